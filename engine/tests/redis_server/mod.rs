//! A `redis-server` for tests, on a free loopback port (engine and server tests share it),
//! and a Redis Cluster of several (joined with `redis-cli --cluster create`). Without the
//! programs a test is skipped with a printed reason, except under `CI=true`, where it fails.

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `redis-server` on a free loopback port, stopped when dropped.
pub struct Redis {
    child: Child,
    port: u16,
    /// Set when it serves TLS only: the CA certificate to trust, PEM.
    tls_certificate: Option<Vec<u8>>,
    /// Set when it also verifies clients: a certificate and key its CA signed, PEM.
    client_certificate: Option<(Vec<u8>, Vec<u8>)>,
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
        let (cert_path, key_path) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let ca = signed.cert.pem().into_bytes();
        Redis::launch_tls(test, [cert_path, key_path, cert_path], false, ca)
    }

    /// A TLS-only server presenting `cert` and `key`, verifying clients against `ca` when
    /// `verify_clients` (file paths); `trust` is the CA certificate clients trust, PEM.
    fn launch_tls(
        test: &str,
        [cert, key, ca]: [&str; 3],
        verify_clients: bool,
        trust: Vec<u8>,
    ) -> Option<Redis> {
        let port = free_port();
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            ca,
            "--tls-auth-clients",
            if verify_clients { "yes" } else { "no" },
        ];
        Redis::launch(test, port, &args, Some(trust))
    }

    /// Starts one that speaks TLS only and admits only clients presenting a certificate its
    /// CA signed (`tls-auth-clients yes`); the CA, the server's and a client's certificate
    /// are written into `dir`.
    pub fn start_mutual_tls(test: &str, dir: &std::path::Path) -> Option<Redis> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // Each certificate gets its own name: a leaf named like its issuer looks self-signed.
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "graft test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, &ca_key);
        let sign = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names.clone()).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, names[0].as_str());
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = sign(vec!["127.0.0.1".to_string()]);
        let (client_cert, client_key) = sign(vec!["graft".to_string()]);
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path.to_str().unwrap().to_string()
        };
        let ca_path = write("ca.crt", &ca.pem());
        let cert_path = write("redis.crt", &server_cert);
        let key_path = write("redis.key", &server_key);
        let files = [cert_path.as_str(), key_path.as_str(), ca_path.as_str()];
        let mut redis = Redis::launch_tls(test, files, true, ca.pem().into_bytes())?;
        redis.client_certificate = Some((client_cert.into_bytes(), client_key.into_bytes()));
        Some(redis)
    }

    /// The client certificate and key a server started with [`Redis::start_mutual_tls`]
    /// admits.
    pub fn client_certificate(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.client_certificate.clone()
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
            client_certificate: None,
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
                    client_tls: self.client_certificate.clone().map(|(cert, key)| {
                        redis::ClientTlsConfig {
                            client_cert: cert,
                            client_key: key,
                        }
                    }),
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

    /// Stores `value` under `key` for `millis`, as graft's writes do (what a test plants).
    pub async fn set_px(&self, key: &str, value: impl redis::ToRedisArgs, millis: u64) {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("PX")
            .arg(millis)
            .query_async(&mut self.connection().await)
            .await
            .unwrap();
    }

    /// Sets the remaining lifetime of `key`, in milliseconds.
    pub async fn pexpire(&self, key: &str, millis: u64) {
        let _: () = redis::cmd("PEXPIRE")
            .arg(key)
            .arg(millis)
            .query_async(&mut self.connection().await)
            .await
            .unwrap();
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

/// A Redis Cluster of `redis-server`s on loopback ports, one shard each, no replicas; stopped
/// (and its state directory removed) when dropped.
pub struct RedisCluster {
    pub shards: Vec<Redis>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts `shards` servers in cluster mode, joins them and waits until every one reports
    /// the cluster ok (`None`: skip, except under `CI=true`).
    pub fn start(test: &str, shards: usize) -> Option<RedisCluster> {
        let dir = std::env::temp_dir().join(format!("graft-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut cluster = RedisCluster {
            shards: Vec::new(),
            dir,
        };
        for _ in 0..shards {
            // The cluster bus port is chosen too: the default (port + 10000) may not exist.
            let (port, bus) = (free_port(), free_port());
            let config = cluster.dir.join(format!("nodes-{port}.conf"));
            let args = [
                "--port",
                &port.to_string(),
                "--cluster-enabled",
                "yes",
                "--cluster-port",
                &bus.to_string(),
                "--cluster-config-file",
                config.to_str().unwrap(),
                "--dir",
                cluster.dir.to_str().unwrap(),
            ];
            cluster.shards.push(Redis::launch(test, port, &args, None)?);
        }
        let nodes: Vec<String> = cluster
            .shards
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        match created {
            Ok(status) => assert!(
                status.success(),
                "{test}: redis-cli --cluster create failed"
            ),
            Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{test}: redis-cli is required in CI (apt-get install redis-tools): {e}")
            }
            Err(e) => {
                eprintln!("{test}: skipped, redis-cli does not start: {e}");
                return None;
            }
        }
        for shard in &cluster.shards {
            let mut ok = false;
            for _ in 0..200 {
                let info = Command::new("redis-cli")
                    .args(["-p", &shard.port.to_string(), "cluster", "info"])
                    .output()
                    .unwrap();
                if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
                    ok = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            assert!(
                ok,
                "{test}: the cluster never reported ok on {}",
                shard.port
            );
        }
        Some(cluster)
    }

    /// The URL of one shard: enough for a client to discover the others.
    pub fn url(&self) -> String {
        self.shards[0].url()
    }

    /// Moves every slot of shard `from`, with its keys, to shard `to` (`redis-cli --cluster
    /// reshard`), as a scaling-in would.
    pub fn move_slots(&self, from: usize, to: usize) {
        let cli = |port: u16, args: &[&str]| {
            let out = Command::new("redis-cli")
                .args(["-p", &port.to_string()])
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let (source, target) = (&self.shards[from], &self.shards[to]);
        let source_id = cli(source.port, &["cluster", "myid"]);
        let target_id = cli(target.port, &["cluster", "myid"]);
        let nodes = cli(source.port, &["cluster", "nodes"]);
        // `<id> … <first>-<last> …`: the slot ranges the source owns.
        let slots: u32 = nodes
            .lines()
            .find(|line| line.starts_with(&source_id))
            .unwrap()
            .split_whitespace()
            .skip(8)
            .map(|range| match range.split_once('-') {
                Some((a, b)) => b.parse::<u32>().unwrap() - a.parse::<u32>().unwrap() + 1,
                None => 1,
            })
            .sum();
        let address = format!("127.0.0.1:{}", source.port);
        let moved = Command::new("redis-cli")
            .args([
                "--cluster",
                "reshard",
                &address,
                "--cluster-from",
                &source_id,
            ])
            .args([
                "--cluster-to",
                &target_id,
                "--cluster-slots",
                &slots.to_string(),
            ])
            .args(["--cluster-yes"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(moved.success(), "redis-cli --cluster reshard failed");
    }

    /// How many keys each shard holds.
    pub async fn key_counts(&self) -> Vec<usize> {
        let mut counts = Vec::new();
        for shard in &self.shards {
            let count: usize = redis::cmd("DBSIZE")
                .query_async(&mut shard.connection().await)
                .await
                .unwrap();
            counts.push(count);
        }
        counts
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.shards.clear();
        let _ = std::fs::remove_dir_all(&self.dir);
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
