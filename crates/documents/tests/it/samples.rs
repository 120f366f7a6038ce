//! Writes the sample PDFs under `samples/` when `MURAKUMO_WRITE_SAMPLES=1` (otherwise only
//! renders them). The PNG previews are made from them with `pdftoppm -r 150`.

use crate::common;

use murakumo_documents::SigningKeyPair;

#[test]
fn render_samples() {
    let key = SigningKeyPair::from_secret_bytes(&[7u8; 32]);
    let samples = [
        ("resident-copy-household.pdf", common::household(3)),
        ("resident-copy-6-members.pdf", common::household(6)),
        ("seal-certificate.pdf", common::seal_certificate()),
    ];
    let keys = |_: &str, key_id: &str| (key_id == key.key_id()).then(|| key.verifying_key());
    for (name, cert) in samples {
        let issued = common::renderer().issue(&cert, &key).expect("renders");
        // What is written is a genuine certificate of that 発行番号, as
        // printed (appearance compared).
        let v = common::renderer()
            .verify_certificate_pdf(&issued.pdf, &keys)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.issue_number, cert.issue_number, "{name}");
        assert!(v.appearance_checked, "{name}");
        if std::env::var_os("MURAKUMO_WRITE_SAMPLES").is_some() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
            std::fs::create_dir_all(&dir).expect("samples dir");
            std::fs::write(dir.join(name), &issued.pdf).expect("write sample");
        }
    }
}
