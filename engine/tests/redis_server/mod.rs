//! A `redis-server` for tests, on a free loopback port (engine and server tests share it).
//! Without the program a test is skipped with a printed reason, except under `CI=true`,
//! where it fails.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` on a free loopback port, stopped when dropped.
pub struct Redis {
    child: Child,
    port: u16,
    /// Set when it serves TLS only: the certificate it presents (its own CA), PEM.
    tls_certificate: Option<Vec<u8>>,
}

impl Redis {
    /// Starts one, or explains why it cannot (`None`: skip, except under `CI=true`).
    pub fn start(test: &str) -> Option<Redis> {
        let port = free_port();
        Redis::launch(test, port, &["--port", &port.to_string()], None)
    }

    /// Starts one that speaks TLS only, presenting a self-signed certificate for 127.0.0.1
    /// whose PEM files are written into `dir`.
    pub fn start_tls(test: &str, dir: &std::path::Path) -> Option<Redis> {
        let signed = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
        let (cert, key) = (dir.join("redis.crt"), dir.join("redis.key"));
        std::fs::write(&cert, signed.cert.pem()).unwrap();
        std::fs::write(&key, signed.signing_key.serialize_pem()).unwrap();
        let port = free_port();
        let (cert_path, key_path) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            cert_path,
            "--tls-key-file",
            key_path,
            "--tls-ca-cert-file",
            cert_path,
            "--tls-auth-clients",
            "no",
        ];
        Redis::launch(test, port, &args, Some(signed.cert.pem().into_bytes()))
    }

    fn launch(
        test: &str,
        port: u16,
        args: &[&str],
        tls_certificate: Option<Vec<u8>>,
    ) -> Option<Redis> {
        let spawned = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{test}: redis-server is required in CI (apt-get install redis-server): {e}")
            }
            Err(e) => {
                eprintln!("{test}: skipped, redis-server does not start: {e}");
                return None;
            }
        };
        let redis = Redis {
            child,
            port,
            tls_certificate,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{test}: redis-server did not listen on {port}");
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls_certificate.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {signal} failed");
    }

    /// The certificate to trust for a TLS server.
    pub fn tls_certificate(&self) -> Option<Vec<u8>> {
        self.tls_certificate.clone()
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = match &self.tls_certificate {
            None => redis::Client::open(self.url()),
            Some(pem) => redis::Client::build_with_tls(
                self.url(),
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem.clone()),
                },
            ),
        };
        client
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// Every key (tests use their own server).
    pub async fn keys(&self) -> Vec<String> {
        redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut self.connection().await)
            .await
            .unwrap()
    }

    /// The remaining lifetime of `key`, in milliseconds.
    pub async fn pttl(&self, key: &str) -> i64 {
        redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut self.connection().await)
            .await
            .unwrap()
    }

    /// Waits until `count` answers are stored (writes go out in the background).
    pub async fn wait_for_keys(&self, count: usize) -> Vec<String> {
        for _ in 0..100 {
            let keys = self.keys().await;
            if keys.len() >= count {
                return keys;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{count} entries were never written: {:?}",
            self.keys().await
        );
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}
