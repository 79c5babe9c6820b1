//! Compiles the `catalog.v1` contracts with `protox` (no system `protoc`) and
//! writes the encoded descriptor set that server reflection serves.

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "catalog/v1/events.proto",
        "catalog/v1/catalog_service.proto",
        "catalog/v1/ingest_service.proto",
        "catalog/v1/location_service.proto",
    ];
    let fds = protox::compile(files, ["proto"])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("catalog_v1_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}
