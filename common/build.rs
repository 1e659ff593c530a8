// build_info{revision}: the commit being built. GIT_REVISION wins (container
// builds have no .git); otherwise ask git, if this is a checkout.
fn main() {
    println!("cargo:rerun-if-env-changed=GIT_REVISION");
    if std::env::var("GIT_REVISION").is_ok() {
        return;
    }
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output();
    if let Ok(out) = head {
        if out.status.success() {
            let revision = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            println!("cargo:rustc-env=GIT_REVISION={revision}");
            // Only when in a checkout: a path that never exists would rerun this every build.
            for path in ["../.git/HEAD", "../.git/refs/heads"] {
                if std::path::Path::new(path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
        }
    }
}
