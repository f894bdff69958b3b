//! Constructors for [`ProbeInfo`].

use crate::{Capability, ProbeInfo};

impl ProbeInfo {
    /// Describes a probe: its short name (`[a-z0-9-]+`, used in the host's logs
    /// and metric labels), its own version, a one-line description and the
    /// snapshot parts it reads.
    ///
    /// ```
    /// # use gomon_probe::{Capability, ProbeInfo};
    /// let info = ProbeInfo::new("io", "0.1.0", "Block device statistics.", [Capability::Disks]);
    /// assert_eq!(info.needs, [Capability::Disks]);
    /// ```
    pub fn new(
        name: &str,
        version: &str,
        description: &str,
        needs: impl IntoIterator<Item = Capability>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            description: description.to_owned(),
            needs: needs.into_iter().collect(),
        }
    }
}
