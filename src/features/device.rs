//! Inference devices as written in pipeline files: `cpu`, `cuda:N`, `tensorrt:N`.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    Cuda(u32),
    TensorRt(u32),
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
            Device::TensorRt(i) => write!(f, "tensorrt:{i}"),
        }
    }
}

impl FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid device `{s}`: expected `cpu`, `cuda:N` or `tensorrt:N`");
        match s.split_once(':') {
            None if s == "cpu" => Ok(Device::Cpu),
            Some(("cuda", n)) => n.parse().map(Device::Cuda).map_err(|_| bad()),
            Some(("tensorrt", n)) => n.parse().map(Device::TensorRt).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

impl Serialize for Device {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for s in ["cpu", "cuda:0", "tensorrt:3"] {
            assert_eq!(s.parse::<Device>().unwrap().to_string(), s);
        }
        assert!("gpu".parse::<Device>().unwrap_err().contains("expected `cpu`, `cuda:N` or `tensorrt:N`"));
        assert!("cuda:x".parse::<Device>().is_err());
    }
}
