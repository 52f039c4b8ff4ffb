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
}

impl Redis {
    /// Starts one, or explains why it cannot (`None`: skip, except under `CI=true`).
    pub fn start(test: &str) -> Option<Redis> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
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
        let redis = Redis { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(redis);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{test}: redis-server did not listen on {port}");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
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
