//! The GPUs of this machine: what the driver reports ([`inventory`], through NVML) and what
//! they measure ([`bench`], through the CUDA driver API and cuBLAS).
//!
//! Every NVIDIA library is loaded at run time, so the same binary starts on a machine without
//! a GPU or driver; there, both report which part is missing as a normal answer, never a
//! panic. Nothing here knows the configuration or a role: callers pass plain values.

pub mod bench;
pub mod inventory;

/// Why GPUs cannot be used on this machine, in the operator's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuUnavailable {
    #[error(
        "no NVIDIA driver: {library} could not be loaded ({reason}); install the NVIDIA driver \
         (or run where one is installed)"
    )]
    NoDriver {
        library: &'static str,
        reason: String,
    },
    #[error("the NVIDIA driver is loaded but reports no GPU")]
    NoDevices,
    #[error(
        "no cuBLAS: {reason}; install the CUDA libraries (libcublas), e.g. the \
         libcublas-12 package or the CUDA toolkit"
    )]
    NoCublas { reason: String },
    #[error("the NVIDIA driver failed: {0}")]
    Driver(String),
}
