"""Our .proto must describe the same wire format as the official tinker_public.proto."""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2
from tinker.proto import tinker_public_pb2 as official

from tinkex.proto import tinker_public_pb2 as ours


def _file_proto(module: Any) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    return proto


def _wire_facts(message: descriptor_pb2.DescriptorProto) -> dict[str, Any]:
    """Everything about a message that reaches the wire or the generated API, minus package."""
    oneofs = [o.name for o in message.oneof_decl]
    return {
        "fields": [
            (
                f.number,
                f.name,
                f.type,
                f.label,
                f.type_name.rsplit(".", 1)[-1],
                f.proto3_optional,
                oneofs[f.oneof_index] if f.HasField("oneof_index") else None,
            )
            for f in message.field
        ],
        "map_entry": message.options.map_entry,
        "nested": {n.name: _wire_facts(n) for n in message.nested_type},
    }


def test_every_message_matches_the_official_descriptor() -> None:
    mine, theirs = _file_proto(ours), _file_proto(official)
    assert {m.name: _wire_facts(m) for m in mine.message_type} == {
        m.name: _wire_facts(m) for m in theirs.message_type
    }


def test_every_enum_matches_the_official_descriptor() -> None:
    def enums(proto: descriptor_pb2.FileDescriptorProto) -> dict[str, list[tuple[str, int]]]:
        return {e.name: [(v.name, v.number) for v in e.value] for e in proto.enum_type}

    assert enums(_file_proto(ours)) == enums(_file_proto(official))


def test_both_modules_coexist_in_one_descriptor_pool() -> None:
    assert ours.DESCRIPTOR.name == "tinkex/proto/tinker_public.proto"
    assert ours.SampleResponse.DESCRIPTOR.full_name != official.SampleResponse.DESCRIPTOR.full_name
    assert _file_proto(ours).syntax == _file_proto(official).syntax == "proto3"
