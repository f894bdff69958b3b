//! Conversions of contract values to sample values.
//!
//! ```
//! use gomon_probe::value;
//! assert_eq!(value::limit(None), f64::INFINITY);
//! assert_eq!(value::limit(Some(1024)), 1024.0);
//! assert_eq!(value::flag(true), 1.0);
//! ```

/// A limit where `None` means unlimited: `+Inf`, as Prometheus writes it.
pub fn limit(limit: Option<u64>) -> f64 {
    limit.map_or(f64::INFINITY, |l| l as f64)
}

/// A boolean as `1` or `0`.
pub fn flag(on: bool) -> f64 {
    if on { 1.0 } else { 0.0 }
}
