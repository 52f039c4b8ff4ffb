"""A Python grpcio server for graft's tests: grpc.health.v1.Health with reflection v1alpha.

grpcio-reflection serves only grpc.reflection.v1alpha, so graft must fall back to it.
Usage: python3 health_server.py [PORT]  (default 0: an ephemeral port). Prints
"PORT <n>" on stdout once serving, then serves until stdin closes or it is killed.

Health statuses: "" and "graft.demo" are SERVING, "graft.down" is NOT_SERVING, anything
else is NOT_FOUND (grpcio's behaviour for unknown services).
"""

import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    servicer = health.HealthServicer()
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("graft.demo", health_pb2.HealthCheckResponse.SERVING)
    servicer.set("graft.down", health_pb2.HealthCheckResponse.NOT_SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    names = (
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
    )
    reflection.enable_server_reflection(names, server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    print(f"PORT {bound}", flush=True)
    # Stop when the parent closes our stdin (the test ended), so no server outlives it.
    waiter = threading.Thread(target=lambda: sys.stdin.read(), daemon=True)
    waiter.start()
    waiter.join()
    server.stop(grace=None)


if __name__ == "__main__":
    main()
