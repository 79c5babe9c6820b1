#!/usr/bin/env python3
"""Publish one entity event to the catalog's event log, from Python.

This is the contract any producer follows (see docs/publishing-events.md):
the subject names the entity, the payload is a protobuf
`catalog.v1.EntityEvent`, and CloudEvents headers describe it. The catalog's
projector validates the event and applies it like one from its own ingestor.

    pip install -r examples/python/requirements.txt
    python examples/python/publish_entity.py --nats nats://127.0.0.1:4222 \
        --prefix catalog --stream CATALOG --name my-python-service

The protobuf classes are generated at start from proto/ with grpcio-tools,
so the example always matches the checked-in contract.
"""

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "proto", "proto")


def load_protos():
    """Generates and imports catalog/v1/events_pb2."""
    out = tempfile.mkdtemp(prefix="catalog-pb-")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
         "catalog/v1/events.proto"],
        check=True,
    )
    sys.path.insert(0, out)
    from catalog.v1 import events_pb2  # noqa: E402
    return events_pb2


def encode_token(raw: str) -> str:
    """Escapes one subject token: [a-z0-9-] stay, any other byte is _ + 2 hex digits."""
    out = []
    for b in raw.encode("utf-8"):
        c = chr(b)
        if c.islower() and c.isascii() or c.isdigit() or c == "-":
            out.append(c)
        else:
            out.append(f"_{b:02x}")
    return "".join(out)


def canonical_json(entity: dict) -> str:
    """The catalog's canonical JSON: keys sorted, no whitespace."""
    return json.dumps(entity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nats", default="nats://127.0.0.1:4222")
    parser.add_argument("--prefix", default="catalog", help="subject prefix (nats.subject_prefix)")
    parser.add_argument("--stream", default="CATALOG", help="stream name (nats.stream)")
    parser.add_argument("--name", default="python-example")
    parser.add_argument("--producer", default="python-example")
    args = parser.parse_args()

    import nats  # noqa: E402  (after argparse so --help works without it)
    pb = load_protos()

    entity = {
        "apiVersion": "backstage.io/v1alpha1",
        "kind": "Component",
        "metadata": {"name": args.name, "namespace": "default",
                     "description": "Published directly to the event log from Python"},
        "spec": {"type": "service", "lifecycle": "experimental", "owner": "group:default/platform"},
    }
    entity_json = canonical_json(entity)
    ref = f"component:default/{args.name.lower()}"
    event_id = str(uuid.uuid4())
    now = time.time()

    event = pb.EntityEvent(
        event_id=event_id,
        entity_ref=ref,
        schema_version=pb.EVENT_SCHEMA_VERSION_V1,
        source=pb.EventSource(producer=args.producer, location=f"push:{args.producer}"),
        upserted=pb.EntityUpserted(
            entity_json=entity_json,
            content_hash=hashlib.sha256(entity_json.encode("utf-8")).hexdigest(),
        ),
    )
    event.time.FromNanoseconds(int(now * 1e9))

    subject = ".".join([args.prefix, "entity", "component", "default", encode_token(args.name.lower())])
    headers = {
        "Nats-Msg-Id": event_id,
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": "catalog.entity.upserted.v1",
        "ce-source": f"/catalog/{args.producer}",
        "ce-time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        "ce-subject": ref,
        "ce-datacontenttype": "application/protobuf",
    }

    nc = await nats.connect(args.nats)
    js = nc.jetstream()
    ack = await js.publish(subject, event.SerializeToString(), headers=headers, stream=args.stream)
    print(json.dumps({"subject": subject, "sequence": ack.seq, "entity_ref": ref}))
    await nc.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
