//! Paths the product reports are absolute and accepted back, whatever `--project` looked
//! like: relative (`proj`, `./proj`), absolute, or through a symlink.

use std::path::Path;

use serde_json::Value;

use crate::process::{dango, run, signed_in, start_server};

const EMAIL: &str = "files@example.com";
const PASSWORD: &str = "Paths-Round-Trip-7";

#[test]
fn a_listed_file_can_be_deleted_whatever_the_project_path() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("proj");
    assert!(
        run(dango(&real)
            .arg("init")
            .env("DANGO_ADMIN_EMAIL", EMAIL)
            .env("DANGO_ADMIN_PASSWORD", PASSWORD))
        .0
    );
    std::fs::write(
        real.join(".dango/sources.yml"),
        "version: \"1.0\"\nsources:\n  - name: sales\n    type: csv\n    csv: {directory: data/uploads/sales}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("link")).unwrap();
    let absolute = real.to_string_lossy().into_owned();

    for (cwd, project) in [
        (dir.path(), "proj"),
        (dir.path(), "./proj"),
        (Path::new("/"), absolute.as_str()),
        (dir.path(), "link"),
    ] {
        let (server, url) = start_server(
            dango(Path::new(project))
                .current_dir(cwd)
                .args(["start", "--port", "0"]),
        );
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let client = signed_in(&url, EMAIL, PASSWORD).await;
            let name = format!("{}.csv", project.replace(['/', '.'], "_"));
            let part = reqwest::multipart::Part::bytes(b"id\n1\n".to_vec()).file_name(name.clone());
            let uploaded = client
                .post(format!("{url}/api/sources/sales/upload-csv"))
                .multipart(reqwest::multipart::Form::new().part("file", part))
                .send()
                .await
                .unwrap();
            assert_eq!(uploaded.status(), 200, "upload with --project {project}");

            let listing: Value = client
                .get(format!("{url}/api/sources/sales/csv-files"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let directory = listing["directory"].as_str().unwrap();
            assert!(Path::new(directory).is_absolute(), "{listing}");
            let entry = listing["files"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["filename"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} listed: {listing}"));
            let path = entry["path"].as_str().unwrap().to_string();
            assert!(
                Path::new(&path).is_absolute(),
                "--project {project}: {path}"
            );
            assert!(Path::new(&path).is_file(), "the listed path exists: {path}");

            let deleted = client
                .delete(format!("{url}/api/sources/sales/csv-files"))
                .query(&[("file_path", path.as_str())])
                .send()
                .await
                .unwrap();
            let status = deleted.status();
            assert_eq!(
                status,
                200,
                "--project {project}: deleting {path}: {}",
                deleted.text().await.unwrap_or_default()
            );
            assert!(!Path::new(&path).exists(), "{path} was removed");
        });
        server.stop();
    }
}
