"""`dyad <command>`: serve, migrate, and what later rooms add."""

import argparse
import asyncio
import sys
from collections.abc import Callable, Sequence

from service.config import ConfigurationError, get_settings
from service.fhirpath.command import register as register_fhirpath
from service.mapping.commands import register as register_map


def _serve(args: argparse.Namespace) -> int:
    from service.serve import serve
    from service.telemetry.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)
    port = args.port if args.port is not None else settings.port
    workers = args.workers if args.workers is not None else settings.workers
    return serve(settings, args.host or settings.host, port, workers)


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


def _token(args: argparse.Namespace) -> int:
    from service.security.dev_keys import DevSigningKey, dev_issuer_and_audience

    settings = get_settings()
    key = DevSigningKey.from_settings(settings)
    default_issuer, default_audience = dev_issuer_and_audience(settings)
    token = key.mint(
        subject=args.sub,
        scopes=args.scope,
        organization=args.org,
        audience=args.aud or default_audience,
        issuer=args.iss or default_issuer,
        lifetime=args.lifetime,
        org_claim=settings.jwt_org_claim,
    )
    print(token)
    return 0


def _validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from service.conformance.admission import Admission
    from service.conformance.file_validation import FORMATS, UnknownProfile, resolve_profile, validate_paths
    from service.conformance.guide import compiled_guide

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    settings = get_settings()
    admission = Admission(compiled_guide(settings.profiles_dir).validator, settings.required_profiles)
    try:
        profile = resolve_profile(admission, args.profile) if args.profile else None
    except UnknownProfile as unknown:
        print(unknown, file=sys.stderr)
        return 2
    results = validate_paths(admission, [Path(p) for p in args.paths], profile)
    print(FORMATS[args.format](results))
    return 1 if any(r.errors for r in results) else 0


def _notify_worker(_args: argparse.Namespace) -> int:
    from service.notify.standalone import main as notify_worker
    from service.telemetry.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level)  # the same JSON lines as the server, not Python's default
    return notify_worker(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dyad", description="Dyad FHIR service")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the FHIR server")
    serve.add_argument("--host", help="address to bind (default DYAD_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to bind (default DYAD_PORT or 8080)")
    serve.add_argument(
        "--workers",
        type=int,
        help="server processes (default DYAD_WORKERS or 1); more than one needs PostgreSQL and delivers "
        "notifications from a process of its own",
    )
    serve.set_defaults(handler=_serve)
    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(handler=_migrate)
    validate = commands.add_parser("validate", help="validate FHIR files offline against the Dyad profiles")
    validate.add_argument("paths", nargs="+", help="files or folders: resources, Bundles, NDJSON, FHIR XML")
    validate.add_argument("--profile", help="validate against this profile too (its URL, id or name)")
    validate.add_argument("--format", choices=["text", "json", "junit"], default="text")
    validate.set_defaults(handler=_validate)
    package = commands.add_parser("package", help="write profiles/ as a FHIR NPM package")
    package.add_argument("--out", default=".", help="folder to write package/ into (default: .)")
    package.add_argument("--tgz", action="store_true", help="also write NAME-VERSION.tgz")
    package.set_defaults(handler=_package)
    register_map(commands)
    register_fhirpath(commands)
    worker = commands.add_parser("notify-worker", help="deliver Subscription notifications (no HTTP)")
    worker.set_defaults(handler=_notify_worker)
    token = commands.add_parser("token", help="print a bearer token signed by the local development key")
    token.add_argument("--scope", action="append", required=True, help="a SMART scope; repeat for more")
    token.add_argument("--sub", required=True, help="subject (and client_id) of the token")
    token.add_argument("--org", help="calling organisation, e.g. Organization/hv-team or an ODS code")
    token.add_argument("--lifetime", type=int, default=3600, help="seconds until it expires (default 3600)")
    token.add_argument("--aud", help="audience (default DYAD_JWT_AUDIENCE, else the dev audience)")
    token.add_argument("--iss", help="issuer (default DYAD_JWT_ISSUER, else the dev issuer)")
    token.set_defaults(handler=_token)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigurationError as error:
        print(f"dyad: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
