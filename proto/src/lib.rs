//! `catalog.v1` protobuf contracts: the entity events carried by the event log
//! and the gRPC query API, with the generated prost/tonic code.
//!
//! This crate holds wire types only. Domain logic lives in `catalog-model`;
//! every other crate converts at its edge.

/// Generated code for the `catalog.v1` package.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    tonic::include_proto!("catalog.v1");

    /// Encoded `FileDescriptorSet` of `catalog.v1`, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("catalog_v1_descriptor");
}

mod value;

pub use value::{
    json_to_struct, json_to_value, struct_from_json_str, struct_to_json, value_from_json_str,
    value_to_json,
};
