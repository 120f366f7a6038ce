//! Writes the sample PDFs under `samples/` when `MURAKUMO_WRITE_SAMPLES=1` (otherwise only
//! renders them). The PNG previews are made from them with `pdftoppm -r 150`.

mod common;

use murakumo_documents::SigningKeyPair;

#[test]
fn render_samples() {
    let key = SigningKeyPair::from_secret_bytes(&[7u8; 32]);
    let samples = [
        ("resident-copy-household.pdf", common::household(3)),
        ("resident-copy-6-members.pdf", common::household(6)),
        ("seal-certificate.pdf", common::seal_certificate()),
    ];
    for (name, cert) in samples {
        let issued = common::renderer().issue(&cert, &key).expect("renders");
        if std::env::var_os("MURAKUMO_WRITE_SAMPLES").is_some() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
            std::fs::create_dir_all(&dir).expect("samples dir");
            std::fs::write(dir.join(name), &issued.pdf).expect("write sample");
        }
    }
}
