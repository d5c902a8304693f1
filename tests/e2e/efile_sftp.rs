//! E files pushed to dispatch over SFTP, against a real OpenSSH server (Debian's
//! openssh-server on a loopback port): the file arrives byte for byte under its own name (never
//! half of it: it is uploaded under a temporary name and renamed); a server whose host key is
//! not the known one gets nothing; a server that is down gets the file once it is back.

use crate::common;

use std::time::Duration;

use common::sshd::Sshd;
use common::wait_for;
use fieldline::jobs::forecast::sftp::{SftpTarget, SftpUploader, UploadMetrics};

fn target(sshd: &Sshd, known_hosts: &std::path::Path) -> SftpTarget {
    SftpTarget::new(&sshd.url(), Some(&sshd.identity), Some(known_hosts), 120).unwrap()
}

/// A GBK E file in a fresh drop directory.
fn efile(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let text = "<! Entity=heze-pv type=DQ time='2026-05-01_08:00:00' Code=GBK !>\n<DQ::heze-pv>\n@序号\t时刻\t预测功率(MW)\n#1\t2026-05-01_08:15\t12.5\n</DQ::heze-pv>\n";
    let (bytes, _, _) = encoding_rs::GBK.encode(text);
    let path = dir.join("heze-pv_20260501_0800_DQ.txt");
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes.into_owned())
}

#[test]
fn an_e_file_arrives_whole_and_a_stranger_gets_nothing() {
    let sshd = Sshd::start();
    let local = tempfile::tempdir().unwrap();
    let (path, bytes) = efile(local.path());
    target(&sshd, &sshd.known_hosts).upload(&path).unwrap();
    let arrived = sshd.remote.join("heze-pv_20260501_0800_DQ.txt");
    assert_eq!(std::fs::read(&arrived).unwrap(), bytes, "byte for byte, GBK kept");
    let names: Vec<String> = std::fs::read_dir(&sshd.remote)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["heze-pv_20260501_0800_DQ.txt".to_string()], "no temporary name left behind");

    // Another key answering at that address: refused before anything is sent.
    std::fs::remove_file(&arrived).unwrap();
    let err = target(&sshd, &sshd.wrong_known_hosts()).upload(&path).unwrap_err();
    assert!(err.to_lowercase().contains("host key"), "{err}");
    assert_eq!(std::fs::read_dir(&sshd.remote).unwrap().count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_queued_while_the_server_is_down_arrives_when_it_is_back() {
    let mut sshd = Sshd::start();
    let target = target(&sshd, &sshd.known_hosts);
    sshd.stop();
    let local = tempfile::tempdir().unwrap();
    let (path, bytes) = efile(local.path());
    let metrics = UploadMetrics::default();
    let uploader = SftpUploader::start(target, metrics.clone()).unwrap();
    uploader.queue(path);
    // Let a few attempts fail (1 s, 2 s backoff), then bring the server back.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(metrics.uploads.get(), 0);
    sshd.resume();
    let arrived = sshd.remote.join("heze-pv_20260501_0800_DQ.txt");
    wait_for("the E file on the server", Duration::from_secs(30), || async {
        std::fs::read(&arrived).ok().filter(|b| *b == bytes).map(|_| ())
    })
    .await;
    wait_for("the upload counted", Duration::from_secs(5), || async { (metrics.uploads.get() == 1).then_some(()) })
        .await;
    assert_eq!(metrics.failures.get(), 0);
}
