//! Rebuilds the crate when the web UI build (`ui/dist`, embedded by
//! rust-embed) changes. rust-embed's release code embeds each file it saw,
//! but a Vite build makes new hashed file names that cargo would not notice.
//! Debug builds read `ui/dist` from disk at run time and need no rebuild.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() == Ok("debug") {
        return;
    }
    if std::path::Path::new("ui/dist").exists() {
        println!("cargo:rerun-if-changed=ui/dist");
    } else {
        // Creating ui/dist changes ui/'s modification time.
        println!("cargo:rerun-if-changed=ui");
    }
}
