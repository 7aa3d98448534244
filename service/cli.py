"""`dyad <command>`: serve, migrate, and what later rooms add."""

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from service.config import get_settings


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.app import create_app
    from service.telemetry.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.host,
        port=args.port or settings.port,
        log_config=None,
        access_log=False,
    )
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from service.store.database import Database
    from service.store.migrate import migrate

    async def run() -> None:
        db = Database(get_settings().database_url)
        try:
            await migrate(db)
        finally:
            await db.dispose()

    asyncio.run(run())
    print("database is at the newest schema revision")
    return 0


def _package(args: argparse.Namespace) -> int:
    from pathlib import Path

    from service.conformance.npm_package import build_package, package_name_and_version, tarball, write_folder

    profiles_dir = get_settings().profiles_dir
    files = build_package(profiles_dir)
    out = Path(args.out)
    write_folder(files, out)
    print(f"wrote {len(files)} files under {out / 'package'}")
    if args.tgz:
        name, version = package_name_and_version(profiles_dir)
        archive = out / f"{name}-{version}.tgz"
        archive.write_bytes(tarball(files))
        print(f"wrote {archive}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dyad", description="Dyad FHIR service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the FHIR server")
    serve.add_argument("--host", help="address to bind (default DYAD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default DYAD_PORT or 8080)")
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(handler=_migrate)
    package = commands.add_parser("package", help="write profiles/ as a FHIR NPM package")
    package.add_argument("--out", default=".", help="folder to write package/ into (default: .)")
    package.add_argument("--tgz", action="store_true", help="also write NAME-VERSION.tgz")
    package.set_defaults(handler=_package)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
