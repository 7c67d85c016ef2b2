//! One profile per workload across a cluster, with the registry as the only shared state.
//!
//! Each node publishes its own share of a profile under a tag of its own (no two nodes
//! ever write the same tag), and every node computes the union of all shares, which
//! depends on the shares alone. Registries have no compare-and-swap on tags; none is
//! needed: a union that lost a race is recomputed from the shares at the next sync.

pub mod ls;
pub mod names;
pub mod provenance;
pub mod sync;
pub mod union;

pub use names::Key;
pub use provenance::{Provenance, Status};
pub use sync::{Fleet, FleetError};
pub use union::{Shape, Share, Union};
