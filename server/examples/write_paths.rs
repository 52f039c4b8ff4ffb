//! What writing a response costs the writing CPU: hyper's vectored write (a 160-byte head and
//! the body) sent through tokio's `TcpStream` (`writev`) and through graft's `ClientSocket`
//! (one buffer up to 8 KiB), over loopback to a reader thread. Prints the writer thread's
//! CPU time per write (user and kernel, the loopback delivery included), median of 6 rounds.
//!
//! ```sh
//! cargo run --release -p graft --example write_paths   # 2 CPUs: the writer and the reader
//! ```

use std::io::Read;
use std::time::Duration;

use bytes::Buf;
use graft::server::ClientSocket;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The calling thread's time on a CPU so far, user and kernel (the scheduler's account, in
/// nanoseconds).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat.split_whitespace().next().and_then(|n| n.parse().ok());
    Duration::from_nanos(ns.expect("/proc/thread-self/schedstat (Linux with schedstats)"))
}

/// A connected pair whose far end a pinned thread reads and discards until it closes.
async fn connected() -> TcpStream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        let mut sink = vec![0u8; 1 << 16];
        while peer.read(&mut sink).is_ok_and(|n| n > 0) {}
    });
    let (stream, _) = listener.accept().await.unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Writes `writes` responses of `head` and `body` through `out` as hyper does (one vectored
/// write of both, advancing past partial writes); returns the CPU time per write.
async fn per_write(
    out: &mut (impl AsyncWrite + Unpin),
    head: &[u8],
    body: &[u8],
    writes: u32,
) -> Duration {
    let start = thread_cpu();
    for _ in 0..writes {
        out.write_all_buf(&mut Buf::chain(head, body))
            .await
            .unwrap();
    }
    (thread_cpu() - start) / writes
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let head = vec![b'h'; 160];
    println!("| body | tokio TcpStream (writev) | ClientSocket | difference |");
    println!("|---:|---:|---:|---:|");
    for body_len in [2 << 10, 5_732, 8 << 10, 13 << 10] {
        let body = vec![b'b'; body_len];
        let writes = (200 << 20) / (body_len as u32 + 160);
        // One connection for both, in alternating order, so that neither gets a warmer
        // socket.
        let mut stream = connected().await;
        let (mut plain, mut flat) = (Vec::new(), Vec::new());
        for round in 0..6 {
            if round % 2 == 0 {
                plain.push(per_write(&mut stream, &head, &body, writes).await);
            }
            let mut socket = ClientSocket::new(stream);
            flat.push(per_write(&mut socket, &head, &body, writes).await);
            stream = socket.into_inner();
            if round % 2 == 1 {
                plain.push(per_write(&mut stream, &head, &body, writes).await);
            }
        }
        plain.sort();
        flat.sort();
        let (a, b) = (plain[3].as_nanos() as i64, flat[3].as_nanos() as i64);
        println!(
            "| {body_len} B | {a} ns | {b} ns | {:+} ns ({:+.1} %) |",
            b - a,
            100.0 * (b - a) as f64 / a as f64
        );
    }
}
