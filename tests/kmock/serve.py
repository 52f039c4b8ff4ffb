"""A fake Kubernetes API server for graft's discovery tests (PyPI `kmock`).

Serves the real Kubernetes HTTP protocol (list, watch, get, create, patch, delete) for
Services and graft's GraphQLSchema resources from memory, on 127.0.0.1 only.

    python3 tests/kmock/serve.py [PORT]

Prints `kmock listening http://127.0.0.1:PORT` once ready (PORT 0 or absent: any free
port), then serves until stdin closes or the process is terminated. Restarting it on the same
port is how tests simulate an API server restart (its state starts empty again).
"""

import asyncio
import signal
import sys

import kmock


async def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    async with kmock.KubernetesEmulator() as emulator:
        # Declared up front so that listing an empty collection answers 200, not 404.
        emulator.resources['v1/services'] = {'kind': 'Service', 'namespaced': True, 'verbs': ['get', 'list', 'watch', 'create', 'patch', 'delete']}
        emulator.resources['graft.dev/v1alpha1/graphqlschemas'] = {'kind': 'GraphQLSchema', 'namespaced': True, 'verbs': ['get', 'list', 'watch', 'create', 'patch', 'delete']}
        async with kmock.Server(emulator, host='127.0.0.1', port=port) as server:
            print(f'kmock listening http://127.0.0.1:{server.port}', flush=True)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            # The parent test closing our stdin (or dying) also stops us. A stdin that cannot
            # be polled (a file, /dev/null) leaves only the signals.
            try:
                loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.readline() else None)
            except (OSError, ValueError):
                pass
            await stop.wait()


if __name__ == '__main__':
    asyncio.run(main())
