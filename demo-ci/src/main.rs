//! `catalog-demo-ci`: serves the stand-in CI API (see the library docs).

use clap::Parser;

#[derive(Parser)]
#[command(about = "A stand-in third-party CI server for the catalog demo")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7010")]
    listen: std::net::SocketAddr,
    /// Bearer token required from callers (the proxy injects it); none when unset.
    #[arg(long, env = "DEMO_CI_TOKEN")]
    token: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("demo CI server on http://{}", args.listen);
    axum::serve(listener, catalog_demo_ci::router(args.token)).await
}
