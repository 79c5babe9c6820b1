"""List catalog entities from Python with nothing but the server's reflection.

No generated code and no .proto files: the client asks the catalog's gRPC
reflection service (grpc.reflection.v1alpha) for the service definitions,
builds the message classes from them, and calls
catalog.v1.CatalogService/ListEntities.

    pip install -r requirements.txt
    python list_entities.py --api 127.0.0.1:50051 --kind component

Prints one JSON object: the services the server offers, and the response.
"""

import argparse
import json
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", default="127.0.0.1:50051", help="host:port of the gRPC API")
    parser.add_argument("--kind", help="only entities of this kind")
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()

    with grpc.insecure_channel(args.api) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        services = sorted(database.get_services())
        pool = descriptor_pool.DescriptorPool(database)
        service = pool.FindServiceByName("catalog.v1.CatalogService")
        method = service.methods_by_name["ListEntities"]
        request_type = message_factory.GetMessageClass(method.input_type)
        response_type = message_factory.GetMessageClass(method.output_type)

        request = request_type(page_size=args.page_size)
        if args.kind:
            condition = request.filter.any_of.add().all_of.add()
            condition.key = "kind"
            condition.values.append(args.kind)
        call = channel.unary_unary(
            f"/{service.full_name}/{method.name}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        try:
            response = call(request, timeout=10)
        except grpc.RpcError as e:
            print(f"ListEntities failed: {e.code().name}: {e.details()}", file=sys.stderr)
            return 1
    print(json.dumps({"services": services, "response": json_format.MessageToDict(response)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
