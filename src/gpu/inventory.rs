//! The GPU inventory as the NVIDIA driver reports it, through NVML (`libnvidia-ml.so.1`,
//! loaded at run time): model names exactly as validators will read them, memory, identifiers,
//! driver and CUDA versions, utilisation and temperature.

use nvml_wrapper::enum_wrappers::device::TemperatureSensor;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;
use serde::Serialize;

use super::GpuUnavailable;

/// One GPU.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gpu {
    pub index: u32,
    /// As the driver reports it (`torch.cuda.get_device_name` reads the same string).
    pub name: String,
    pub uuid: Option<String>,
    /// Not every board has one (consumer cards report none).
    pub serial: Option<String>,
    pub pci_bus_id: Option<String>,
    pub memory_total_bytes: Option<u64>,
    pub memory_used_bytes: Option<u64>,
    pub utilization_percent: Option<u32>,
    pub temperature_c: Option<u32>,
}

/// Every GPU of this machine and the driver they run on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Inventory {
    pub driver_version: String,
    /// The CUDA version the driver supports, e.g. `12.4`.
    pub cuda_version: Option<String>,
    pub gpus: Vec<Gpu>,
}

impl Inventory {
    /// Reads the inventory; a machine without the driver or without GPUs says so.
    pub fn read() -> Result<Inventory, GpuUnavailable> {
        let nvml = Nvml::init().map_err(|e| match e {
            NvmlError::LibloadingError(e) => GpuUnavailable::NoDriver {
                library: "libnvidia-ml.so.1",
                reason: e.to_string(),
            },
            NvmlError::LibraryNotFound => GpuUnavailable::NoDriver {
                library: "libnvidia-ml.so.1",
                reason: "not found".into(),
            },
            NvmlError::DriverNotLoaded => GpuUnavailable::NoDriver {
                library: "the NVIDIA kernel module",
                reason: "not loaded".into(),
            },
            other => GpuUnavailable::Driver(other.to_string()),
        })?;
        let count = nvml
            .device_count()
            .map_err(|e| GpuUnavailable::Driver(e.to_string()))?;
        if count == 0 {
            return Err(GpuUnavailable::NoDevices);
        }
        let mut gpus = Vec::new();
        for index in 0..count {
            let device = nvml
                .device_by_index(index)
                .map_err(|e| GpuUnavailable::Driver(format!("GPU {index}: {e}")))?;
            let memory = device.memory_info().ok();
            gpus.push(Gpu {
                index,
                name: device
                    .name()
                    .map_err(|e| GpuUnavailable::Driver(format!("GPU {index}: {e}")))?,
                uuid: device.uuid().ok(),
                serial: device.serial().ok().filter(|s| !s.trim().is_empty()),
                pci_bus_id: device.pci_info().ok().map(|p| p.bus_id),
                memory_total_bytes: memory.as_ref().map(|m| m.total),
                memory_used_bytes: memory.as_ref().map(|m| m.used),
                utilization_percent: device.utilization_rates().ok().map(|u| u.gpu),
                temperature_c: device.temperature(TemperatureSensor::Gpu).ok(),
            });
        }
        let cuda_version = nvml.sys_cuda_driver_version().ok().map(|v| {
            format!(
                "{}.{}",
                nvml_wrapper::cuda_driver_version_major(v),
                nvml_wrapper::cuda_driver_version_minor(v)
            )
        });
        Ok(Inventory {
            driver_version: nvml
                .sys_driver_version()
                .map_err(|e| GpuUnavailable::Driver(e.to_string()))?,
            cuda_version,
            gpus,
        })
    }
}
