//! GPU identification from benchmark figures (sn27-protocol §6.7).
//!
//! The name a miner's driver reports is not trusted; the validator instead measures fp16
//! and fp32 throughput and usable VRAM, and picks the model of its table whose reference
//! figures are closest. A few pairs of models are indistinguishable this way, so for those
//! the reported name is accepted when it is the pair partner of the measured one.

use thiserror::Error;

/// One benchmark result of a miner: the reference six-token line, or the worker's JSON
/// (see [`crate::pog::worker_output::BenchmarkOutput`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Benchmark {
    /// Number of GPUs the miner exposes.
    pub gpus: u32,
    /// VRAM estimate `V` in GB, as printed.
    pub vram_gb: f64,
    /// Side of the fp16 matmul.
    pub size16: u64,
    /// Seconds of the fp16 matmul.
    pub t16: f64,
    /// Side of the fp32 matmul.
    pub size32: u64,
    /// Seconds of the fp32 matmul.
    pub t32: f64,
}

/// Why a reference benchmark line was rejected; each variant names the token.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BenchmarkLineError {
    /// The line does not have exactly six whitespace-separated tokens.
    #[error("benchmark line has {found} tokens, expected 6 (gpus vram size16 t16 size32 t32)")]
    WrongTokenCount {
        /// Tokens found.
        found: usize,
    },
    /// A token is not a number of the required kind.
    #[error("benchmark token `{name}` is {token:?}, expected {expected}")]
    BadToken {
        /// Which of the six fields.
        name: &'static str,
        /// The offending text (cut to 64 characters).
        token: String,
        /// What was expected instead.
        expected: &'static str,
    },
}

fn flops_tera(side: u64, secs: f64) -> f64 {
    let side = side as f64;
    2.0 * side * side * side / secs / 1e12
}

impl Benchmark {
    /// Measured fp16 throughput: `2·size16³ / t16 / 1e12` TFLOPS.
    pub fn fp16_tflops(&self) -> f64 {
        flops_tera(self.size16, self.t16)
    }

    /// Measured fp32 throughput: `2·size32³ / t32 / 1e12` TFLOPS.
    pub fn fp32_tflops(&self) -> f64 {
        flops_tera(self.size32, self.t32)
    }

    /// Parses the reference script's line `"{N} {V:.2f} {size16} {t16:.6f} {size32} {t32:.6f}"`,
    /// e.g. `8 34.36 92672 3.102551 46336 4.297310`.
    ///
    /// Counts and sizes must be unsigned integers; `V` must be finite and non-negative;
    /// times must be finite and positive (a zero time would mean infinite TFLOPS).
    pub fn parse_reference_line(line: &str) -> Result<Benchmark, BenchmarkLineError> {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        if tokens.len() != 6 {
            return Err(BenchmarkLineError::WrongTokenCount {
                found: tokens.len(),
            });
        }
        Ok(Benchmark {
            gpus: int_token("gpus", tokens[0])?,
            vram_gb: float_token("vram", tokens[1], false)?,
            size16: int_token("size16", tokens[2])?,
            t16: float_token("t16", tokens[3], true)?,
            size32: int_token("size32", tokens[4])?,
            t32: float_token("t32", tokens[5], true)?,
        })
    }
}

fn bad(name: &'static str, token: &str, expected: &'static str) -> BenchmarkLineError {
    BenchmarkLineError::BadToken {
        name,
        token: token.chars().take(64).collect(),
        expected,
    }
}

fn int_token<T: std::str::FromStr>(
    name: &'static str,
    token: &str,
) -> Result<T, BenchmarkLineError> {
    token
        .parse()
        .map_err(|_| bad(name, token, "an unsigned integer"))
}

fn float_token(name: &'static str, token: &str, positive: bool) -> Result<f64, BenchmarkLineError> {
    let expected = if positive {
        "a finite number above 0"
    } else {
        "a finite number of at least 0"
    };
    let v: f64 = token.parse().map_err(|_| bad(name, token, expected))?;
    let in_range = v.is_finite() && if positive { v > 0.0 } else { v >= 0.0 };
    if in_range {
        Ok(v)
    } else {
        Err(bad(name, token, expected))
    }
}

/// Reference figures of one GPU model (one row of the identification table, which is
/// configuration data).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSpec {
    /// Table key, e.g. `NVIDIA H100 80GB HBM3`; also the name scores are looked up by.
    pub name: String,
    /// Reference fp16 TFLOPS.
    pub fp16_tflops: f64,
    /// Reference fp32 TFLOPS.
    pub fp32_tflops: f64,
    /// Reference VRAM estimate in GB.
    pub vram_gb: f64,
}

impl ModelSpec {
    fn usable(&self) -> bool {
        [self.fp16_tflops, self.fp32_tflops, self.vram_gb]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
    }

    /// Mean relative deviation of the measured figures from this model's; NaN inputs count
    /// as infinitely far so that they can never win over a real match.
    fn deviation(&self, fp16: f64, fp32: f64, vram: f64) -> f64 {
        let d = ((fp16 - self.fp16_tflops).abs() / self.fp16_tflops
            + (fp32 - self.fp32_tflops).abs() / self.fp32_tflops
            + (vram - self.vram_gb).abs() / self.vram_gb)
            / 3.0;
        if d.is_nan() {
            f64::INFINITY
        } else {
            d
        }
    }
}

/// Identifies the GPU model from measured `fp16`/`fp32` TFLOPS and `vram` GB.
///
/// The model with the smallest mean relative deviation wins, the first in table order on
/// ties; rows with a non-positive or non-finite reference figure are skipped. Then, with
/// `pairs` read as directed edges `(a, b)`: if an edge leads from the identified model to
/// `reported`, or from `reported` to the identified model, the result is `reported`
/// (list each symmetric pair once, or both ways; the outcome is the same). An empty
/// `reported` is never substituted. Returns `None` only when no usable row exists.
pub fn identify(
    fp16: f64,
    fp32: f64,
    vram: f64,
    reported: &str,
    table: &[ModelSpec],
    pairs: &[(String, String)],
) -> Option<String> {
    let mut best: Option<(&ModelSpec, f64)> = None;
    for model in table.iter().filter(|m| m.usable()) {
        let d = model.deviation(fp16, fp32, vram);
        if best.is_none_or(|(_, best_d)| d < best_d) {
            best = Some((model, d));
        }
    }
    let identified = &best?.0.name;
    let paired = !reported.is_empty()
        && pairs
            .iter()
            .any(|(a, b)| (a == identified && b == reported) || (a == reported && b == identified));
    Some(if paired {
        reported.to_string()
    } else {
        identified.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, f16: f64, f32_: f64, v: f64) -> ModelSpec {
        ModelSpec {
            name: name.to_string(),
            fp16_tflops: f16,
            fp32_tflops: f32_,
            vram_gb: v,
        }
    }

    fn table() -> Vec<ModelSpec> {
        vec![
            spec("NVIDIA H200", 610.0, 49.6, 68.72),
            spec("NVIDIA H100 80GB HBM3", 570.0, 49.0, 34.36),
            spec("NVIDIA H100", 330.0, 37.2, 34.36),
            spec("NVIDIA A100-SXM4-80GB", 238.8, 18.2, 34.36),
            spec("NVIDIA A100 80GB PCIe", 197.0, 16.9, 34.36),
            spec("NVIDIA L40", 116.0, 27.0, 17.18),
            spec("NVIDIA RTX 6000 Ada Generation", 112.0, 26.0, 17.18),
        ]
    }

    fn pairs() -> Vec<(String, String)> {
        [
            ("NVIDIA L40", "NVIDIA RTX 6000 Ada Generation"),
            ("NVIDIA A100 80GB PCIe", "NVIDIA A100-SXM4-80GB"),
            ("NVIDIA H100 80GB HBM3", "NVIDIA H100"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
    }

    #[test]
    fn parses_the_spec_example_line() {
        let b = Benchmark::parse_reference_line("8 34.36 92672 3.102551 46336 4.297310")
            .expect("spec example");
        assert_eq!(b.gpus, 8);
        assert_eq!(b.size16, 92672);
        assert_eq!(b.size32, 46336);
        assert!((b.fp16_tflops() - 2.0 * 92672f64.powi(3) / 3.102551 / 1e12).abs() < 1e-9);
        assert!(
            (b.fp16_tflops() - 513.05).abs() < 0.01,
            "{}",
            b.fp16_tflops()
        );
        assert!(
            (b.fp32_tflops() - 46.30).abs() < 0.01,
            "{}",
            b.fp32_tflops()
        );
    }

    #[test]
    fn line_errors_name_the_token() {
        let e = Benchmark::parse_reference_line("8 34.36 92672 3.1 46336").unwrap_err();
        assert_eq!(e, BenchmarkLineError::WrongTokenCount { found: 5 });
        let e = Benchmark::parse_reference_line("8 34.36 -1 3.1 46336 4.2").unwrap_err();
        assert!(e.to_string().contains("size16"), "{e}");
        let e = Benchmark::parse_reference_line("8 34.36 92672 0.000000 46336 4.2").unwrap_err();
        assert!(e.to_string().contains("t16"), "{e}");
        let e = Benchmark::parse_reference_line("8 nan 92672 1 46336 4.2").unwrap_err();
        assert!(e.to_string().contains("vram"), "{e}");
        let e = Benchmark::parse_reference_line("x 1 1 1 1 inf").unwrap_err();
        assert!(e.to_string().contains("gpus"), "{e}");
        let e = Benchmark::parse_reference_line("1 1 1 1 1 inf").unwrap_err();
        assert!(e.to_string().contains("t32"), "{e}");
    }

    #[test]
    fn picks_the_closest_model() {
        let t = table();
        let got = identify(512.0, 46.3, 34.36, "NVIDIA H100 80GB HBM3", &t, &pairs());
        assert_eq!(got.as_deref(), Some("NVIDIA H100 80GB HBM3"));
        let got = identify(600.0, 49.0, 68.72, "whatever", &t, &pairs());
        assert_eq!(got.as_deref(), Some("NVIDIA H200"));
    }

    #[test]
    fn tolerance_pairs_apply_both_ways() {
        let t = table();
        let p = pairs();
        // Measured like an L40; reported as its partner → reported (forward edge).
        let got = identify(116.0, 27.0, 17.18, "NVIDIA RTX 6000 Ada Generation", &t, &p);
        assert_eq!(got.as_deref(), Some("NVIDIA RTX 6000 Ada Generation"));
        // Measured like an A100 SXM; reported as the PCIe partner → reported (reverse edge).
        let got = identify(238.8, 18.2, 34.36, "NVIDIA A100 80GB PCIe", &t, &p);
        assert_eq!(got.as_deref(), Some("NVIDIA A100 80GB PCIe"));
        // Not a partner → the measured model stands.
        let got = identify(238.8, 18.2, 34.36, "NVIDIA H200", &t, &p);
        assert_eq!(got.as_deref(), Some("NVIDIA A100-SXM4-80GB"));
        let got = identify(116.0, 27.0, 17.18, "", &t, &p);
        assert_eq!(got.as_deref(), Some("NVIDIA L40"));
    }

    #[test]
    fn ties_skips_and_empty_tables() {
        let t = vec![
            spec("broken", 0.0, 10.0, 10.0),
            spec("first", 100.0, 10.0, 10.0),
            spec("second", 100.0, 10.0, 10.0),
        ];
        assert_eq!(
            identify(100.0, 10.0, 10.0, "", &t, &[]).as_deref(),
            Some("first")
        );
        assert_eq!(
            identify(f64::NAN, 10.0, 10.0, "", &t, &[]).as_deref(),
            Some("first")
        );
        assert_eq!(identify(1.0, 1.0, 1.0, "", &[], &[]), None);
        assert_eq!(identify(1.0, 1.0, 1.0, "", &t[..1], &[]), None);
    }
}
