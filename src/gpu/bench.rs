//! What a validator will measure on this machine's GPUs, measured here first: the VRAM
//! estimate and the FP16/FP32 GEMM timings of the Proof-of-GPU benchmark
//! (`sn27-protocol.md` §6.2–6.3), and the seeded compute with its Merkle tree.
//!
//! Everything goes through the CUDA driver API and cuBLAS, loaded at run time (cudarc with
//! dynamic loading): their presence is checked before first use, because a missing library
//! would otherwise stop the process. The GEMMs follow the reference's method — one product of
//! two random square matrices of the benchmark's size, between two synchronisations, no
//! warm-up — so the figures are the ones identification compares with the table. The compute
//! step multiplies the seeded matrices of [`crate::pog::prng`] (generated on the host) with
//! TF32 off, builds the row Merkle tree of the product, and checks one element against the
//! value the validator computes, so a wrong GEMM path cannot pass unnoticed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{CudaContext, CudaSlice, CudaStream};
use half::f16;
use rand::Rng;
use serde::Serialize;

use super::GpuUnavailable;
use crate::pog::check::{expected_value, isclose, ATOL_V1, RTOL_V1};
use crate::pog::identify::Benchmark;
use crate::pog::merkle::MerkleTree;
use crate::pog::prng::{matrix, Conversion};
use crate::pog::sizes::{round_vram, Sizes};

/// What one GPU measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceBench {
    pub index: usize,
    pub name: String,
    /// The six figures of the benchmark line, as a validator reads them.
    #[serde(skip)]
    pub benchmark: Benchmark,
    pub vram_gb: f64,
    pub size16: u64,
    pub t16: f64,
    pub fp16_tflops: f64,
    pub size32: u64,
    pub t32: f64,
    pub fp32_tflops: f64,
    pub compute: ComputeBench,
}

/// The seeded compute step at the Merkle size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComputeBench {
    pub n: u64,
    pub generation_secs: f64,
    pub transfer_secs: f64,
    pub multiplication_secs: f64,
    pub merkle_secs: f64,
    /// Lower-case hex of the Merkle root.
    pub root: String,
}

/// Checks that the CUDA driver and cuBLAS can be loaded and counts the GPUs.
pub fn devices() -> Result<usize, GpuUnavailable> {
    // SAFETY: only tries to open the shared libraries; nothing is called through them.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(GpuUnavailable::NoDriver {
            library: "libcuda.so.1",
            reason: "not found".into(),
        });
    }
    // SAFETY: as above.
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Err(GpuUnavailable::NoCublas {
            reason: "libcublas.so.12 not found".into(),
        });
    }
    cudarc::driver::result::init().map_err(|e| GpuUnavailable::Driver(e.to_string()))?;
    let count = CudaContext::device_count().map_err(|e| GpuUnavailable::Driver(e.to_string()))?;
    if count <= 0 {
        return Err(GpuUnavailable::NoDevices);
    }
    Ok(count as usize)
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Unavailable(#[from] GpuUnavailable),
    #[error("GPU {index}: {what}: {reason}")]
    Cuda {
        index: usize,
        what: &'static str,
        reason: String,
    },
    #[error(
        "GPU {index}: the product is wrong at ({i}, {j}): {found} where {expected} was expected"
    )]
    WrongProduct {
        index: usize,
        i: u64,
        j: u64,
        found: f32,
        expected: f64,
    },
}

/// Measures GPU `index` as a validator's Proof-of-GPU test would; `merkle_buffer` chooses
/// the compute size (`pog::sizes`). Blocking: run it on a blocking thread.
pub fn measure(index: usize, merkle_buffer: f64) -> Result<DeviceBench, BenchError> {
    let cuda = |what: &'static str| {
        move |e: &dyn std::fmt::Display| BenchError::Cuda {
            index,
            what,
            reason: e.to_string(),
        }
    };
    let context = CudaContext::new(index).map_err(|e| cuda("opening the device")(&e))?;
    let name = context.name().map_err(|e| cuda("reading the name")(&e))?;
    let stream = context.default_stream();
    let blas = CudaBlas::new(stream.clone()).map_err(|e| cuda("starting cuBLAS")(&e))?;

    let vram_gb = round_vram(estimate_vram(&stream));
    let sizes = Sizes::for_vram(vram_gb, merkle_buffer);
    let t16 = time_gemm::<f16>(&stream, &blas, sizes.size16 as usize, f16::from_f32)
        .map_err(|e| cuda("FP16 GEMM")(&e))?;
    let t32 = time_gemm::<f32>(&stream, &blas, sizes.size32 as usize, |x| x)
        .map_err(|e| cuda("FP32 GEMM")(&e))?;
    let benchmark = Benchmark {
        gpus: 1,
        vram_gb,
        size16: sizes.size16,
        t16: t16.as_secs_f64(),
        size32: sizes.size32,
        t32: t32.as_secs_f64(),
    };
    let compute = compute(index, &stream, &blas, sizes.n as usize)?;
    Ok(DeviceBench {
        index,
        name,
        vram_gb,
        size16: sizes.size16,
        t16: benchmark.t16,
        fp16_tflops: benchmark.fp16_tflops(),
        size32: sizes.size32,
        t32: benchmark.t32,
        fp32_tflops: benchmark.fp32_tflops(),
        benchmark,
        compute,
    })
}

/// A quick proof that CUDA and cuBLAS work on GPU `index`: a seeded 256×256 product,
/// checked against the value computed on the host (`sn27 check`).
pub fn smoke(index: usize) -> Result<(), BenchError> {
    let fail = |what: &'static str, e: &dyn std::fmt::Display| BenchError::Cuda {
        index,
        what,
        reason: e.to_string(),
    };
    let context = CudaContext::new(index).map_err(|e| fail("opening the device", &e))?;
    let stream = context.default_stream();
    let blas = CudaBlas::new(stream.clone()).map_err(|e| fail("starting cuBLAS", &e))?;
    compute(index, &stream, &blas, 256).map(|_| ())
}

/// The reference's estimate: fp16 buffers of 2^20, 2^21, … elements, each kept while the
/// next is tried, until one fails; `V = 2 · E_last / 1e9`.
fn estimate_vram(stream: &Arc<CudaStream>) -> f64 {
    let mut held: Vec<CudaSlice<f16>> = Vec::new();
    let mut elements: usize = 1 << 20;
    let mut last = 0usize;
    // SAFETY: the buffers are only allocated and freed, never read.
    while let Ok(buffer) = unsafe { stream.alloc::<f16>(elements) } {
        held.push(buffer);
        last = elements;
        match elements.checked_mul(2) {
            Some(next) => elements = next,
            None => break,
        }
    }
    drop(held);
    let _ = stream.synchronize();
    2.0 * last as f64 / 1e9
}

/// Fills a device buffer of `len` elements with random values (a random block tiled over
/// it: generating gigabytes on the host would cost more than the GEMM).
fn random_buffer<T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits>(
    stream: &Arc<CudaStream>,
    len: usize,
    convert: impl Fn(f32) -> T,
) -> Result<CudaSlice<T>, cudarc::driver::DriverError> {
    let block = (1usize << 20).min(len.max(1));
    let mut rng = rand::thread_rng();
    let host: Vec<T> = (0..block)
        .map(|_| convert(rng.gen_range(-1.0..1.0)))
        .collect();
    let tile = stream.clone_htod(&host)?;
    let mut buffer = stream.alloc_zeros::<T>(len)?;
    let mut offset = 0;
    while offset < len {
        let take = block.min(len - offset);
        let mut target = buffer.slice_mut(offset..offset + take);
        stream.memcpy_dtod(&tile.slice(0..take), &mut target)?;
        offset += take;
    }
    Ok(buffer)
}

/// The wall time of one `side × side` product of two random matrices, between two
/// synchronisations.
fn time_gemm<T>(
    stream: &Arc<CudaStream>,
    blas: &CudaBlas,
    side: usize,
    convert: impl Fn(f32) -> T,
) -> Result<Duration, String>
where
    T: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits + Copy,
    CudaBlas: Gemm<T>,
{
    let len = side * side;
    let a = random_buffer(stream, len, &convert).map_err(|e| e.to_string())?;
    let b = random_buffer(stream, len, &convert).map_err(|e| e.to_string())?;
    let mut c = stream.alloc_zeros::<T>(len).map_err(|e| e.to_string())?;
    let config = square(side, convert(1.0), convert(0.0));
    stream.synchronize().map_err(|e| e.to_string())?;
    let started = Instant::now();
    // SAFETY: the three buffers hold side × side elements, as the configuration says.
    unsafe { blas.gemm(config, &a, &b, &mut c) }.map_err(|e| e.to_string())?;
    stream.synchronize().map_err(|e| e.to_string())?;
    Ok(started.elapsed())
}

fn square<T>(side: usize, alpha: T, beta: T) -> GemmConfig<T> {
    let side = side as i32;
    GemmConfig {
        transa: cublasOperation_t::CUBLAS_OP_N,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: side,
        n: side,
        k: side,
        alpha,
        lda: side,
        ldb: side,
        beta,
        ldc: side,
    }
}

/// The seeded product at the Merkle size, its tree, and a check of one element.
fn compute(
    index: usize,
    stream: &Arc<CudaStream>,
    blas: &CudaBlas,
    n: usize,
) -> Result<ComputeBench, BenchError> {
    let cuda = |what: &'static str| {
        move |e: &dyn std::fmt::Display| BenchError::Cuda {
            index,
            what,
            reason: e.to_string(),
        }
    };
    let mut rng = rand::thread_rng();
    let (seed_a, seed_b): (u64, u64) = (rng.gen(), rng.gen());
    let started = Instant::now();
    let a = matrix(seed_a, n, Conversion::Miner);
    let b = matrix(seed_b, n, Conversion::Miner);
    let generation = started.elapsed();

    let started = Instant::now();
    let a_dev = stream.clone_htod(&a).map_err(|e| cuda("copying A")(&e))?;
    let b_dev = stream.clone_htod(&b).map_err(|e| cuda("copying B")(&e))?;
    let mut c_dev = stream
        .alloc_zeros::<f32>(n * n)
        .map_err(|e| cuda("allocating C")(&e))?;
    stream.synchronize().map_err(|e| cuda("copying")(&e))?;
    let upload = started.elapsed();
    drop((a, b));

    // cuBLAS is column-major: the row-major product A·B is the column-major B·A.
    let started = Instant::now();
    // SAFETY: the three buffers hold n × n elements, as the configuration says.
    unsafe { blas.gemm(square(n, 1.0f32, 0.0f32), &b_dev, &a_dev, &mut c_dev) }
        .map_err(|e| cuda("FP32 GEMM")(&e))?;
    stream.synchronize().map_err(|e| cuda("FP32 GEMM")(&e))?;
    let multiplication = started.elapsed();

    let started = Instant::now();
    let c = stream
        .clone_dtoh(&c_dev)
        .map_err(|e| cuda("copying C back")(&e))?;
    let download = started.elapsed();

    let started = Instant::now();
    let tree = MerkleTree::build(&c, n).map_err(|e| cuda("Merkle tree")(&e))?;
    let merkle = started.elapsed();

    let (i, j) = (rng.gen_range(0..n as u64), rng.gen_range(0..n as u64));
    let found = c[(i as usize) * n + j as usize];
    let expected = expected_value(seed_a, seed_b, i, j, n as u64);
    if !isclose(found, expected, ATOL_V1, RTOL_V1) {
        return Err(BenchError::WrongProduct {
            index,
            i,
            j,
            found,
            expected,
        });
    }
    Ok(ComputeBench {
        n: n as u64,
        generation_secs: generation.as_secs_f64(),
        transfer_secs: (upload + download).as_secs_f64(),
        multiplication_secs: multiplication.as_secs_f64(),
        merkle_secs: merkle.as_secs_f64(),
        root: hex::encode(tree.root()),
    })
}
