# ruff: noqa: RUF005  (column lists read best as blocks joined with +, as in the reference)
"""PAN-OS syslog CSV layouts and their ECS mapping, as data.

Source: shared/reference/panos-syslog-fields.md (PAN-OS field descriptions 8.1 → 11.1,
Elastic's `panw.panos` pipelines, Graylog's PaloAlto9x templates). Positions are 0-based
over the CSV record behind the syslog header. Each layout lists the *newest* column order:
maintenance releases only append columns, so a line is read by position up to its own
length, and columns beyond the newest list are kept as `panw.panos.extra_<pos>`.

`VERSIONS` records, per layout, how many columns each PAN-OS release emits. The shortest
one is the minimum a line needs; fewer columns means a truncated or foreign line.

A column name of None is FUTURE_USE (dropped). Every other column not named in
`ECS_COLUMNS` (or consumed by a rule in panos.py) lands in `panw.panos.<name>` as a string.
"""

from __future__ import annotations

__all__ = [
    "ECS_COLUMNS",
    "LAYOUTS",
    "TYPE_ALIASES",
    "TYPE_PROFILES",
    "VERSIONS",
]

# ---- shared blocks ----------------------------------------------------------------------

HEADER = (
    None,
    "receive_time",
    "serial_number",
    "type",
    "subtype",
    "config_version",
    "generated_time",
)

S_BLOCK = (  # 7–30
    "source_address", "destination_address", "nat_source_ip", "nat_destination_ip",
    "rule_name", "source_user", "destination_user", "application", "virtual_system",
    "source_zone", "destination_zone", "inbound_interface", "outbound_interface",
    "log_action", "time_logged", "session_id", "repeat_count", "source_port",
    "destination_port", "nat_source_port", "nat_destination_port", "flags", "protocol",
    "action",
)  # fmt: skip

DG6 = (
    "device_group_hierarchy_level_1", "device_group_hierarchy_level_2",
    "device_group_hierarchy_level_3", "device_group_hierarchy_level_4",
    "virtual_system_name", "device_name",
)  # fmt: skip


def _dev8(side: str) -> tuple[str, ...]:
    return tuple(
        f"{side}_{n}"
        for n in (
            "device_category", "device_profile", "device_model", "device_vendor",
            "device_os_family", "device_os_version", "hostname", "mac_address",
        )
    )  # fmt: skip


APP9 = (
    "application_subcategory", "application_category", "application_technology",
    "application_risk", "application_characteristic", "application_container",
    "tunneled_application", "application_saas", "application_sanctioned_state",
)  # fmt: skip
APP8 = tuple(c for c in APP9 if c != "tunneled_application")

# ---- layouts (newest column order per type) ----------------------------------------------

TRAFFIC = HEADER + S_BLOCK + (
    "bytes", "bytes_sent", "bytes_received", "packets", "start_time", "elapsed_time",
    "category", None, "sequence_number", "action_flags", "source_country",
    "destination_country", None, "packets_sent", "packets_received", "session_end_reason",
) + DG6 + (
    "action_source", "source_vm_uuid", "destination_vm_uuid", "tunnel_id_imsi",
    "monitor_tag_imei", "parent_session_id", "parent_start_time", "tunnel_type",
    "sctp_association_id", "sctp_chunks", "sctp_chunks_sent", "sctp_chunks_received",
    "rule_uuid", "http_2_connection", "app_flap_count", "policy_id", "link_switches",
    "sd_wan_cluster", "sd_wan_device_type", "sd_wan_cluster_type", "sd_wan_site",
    "dynamic_user_group_name", "xff_address",
) + _dev8("source") + _dev8("destination") + (
    "container_id", "pod_namespace", "pod_name", "source_external_dynamic_list",
    "destination_external_dynamic_list", "host_id", "endpoint_serial_number",
    "source_dynamic_address_group", "destination_dynamic_address_group", "session_owner",
    "high_resolution_timestamp", "a_slice_service_type", "a_slice_differentiator",
) + APP9 + (
    "offloaded", "flow_type", "cluster_name", "ai_traffic", "ai_forward_error",
    "k8s_cluster_id", "tcp_rtt_c2s", "tcp_rtt_s2c", "total_n_ooseq_c2s",
    "total_n_ooseq_s2c", "tcp_retransit_cnt_c2s", "tcp_retransit_cnt_s2c",
    "tcp_zero_window_cnt_c2s", "tcp_zero_window_cnt_s2c", "source_adv_devid",
    "destination_adv_devid",
)  # fmt: skip

THREAT = HEADER + S_BLOCK + (
    "url_filename", "threat_id", "category", "severity", "direction", "sequence_number",
    "action_flags", "source_location", "destination_location", None, "content_type",
    "pcap_id", "file_digest", "cloud", "url_index", "user_agent", "file_type",
    "x_forwarded_for", "referer", "sender", "subject", "recipient", "report_id",
) + DG6 + (
    None, "source_vm_uuid", "destination_vm_uuid", "http_method", "tunnel_id_imsi",
    "monitor_tag_imei", "parent_session_id", "parent_start_time", "tunnel_type",
    "threat_category", "content_version", None, "sctp_association_id",
    "payload_protocol_id", "http_headers", "url_category_list", "rule_uuid",
    "http_2_connection", "dynamic_user_group_name", "xff_address",
) + _dev8("source") + _dev8("destination") + (
    "container_id", "pod_namespace", "pod_name", "source_external_dynamic_list",
    "destination_external_dynamic_list", "host_id", "endpoint_serial_number",
    "domain_edl", "source_dynamic_address_group", "destination_dynamic_address_group",
    "partial_hash", "high_resolution_timestamp", "reason", "justification",
    "a_slice_service_type",
) + APP9 + ("cloud_report_id", "flow_type", "cluster_name")  # fmt: skip

SYSTEM = HEADER + (
    "virtual_system", "event_id", "object", None, None, "module", "severity", "description",
    "sequence_number", "action_flags",
) + DG6 + (None, None, "high_resolution_timestamp")  # fmt: skip

_CONFIG_TAIL = DG6 + ("device_group", "audit_comment", None, "high_resolution_timestamp")
# The documented order (Before/After Change Detail before the Sequence Number) ...
CONFIG_DOCS = HEADER + (
    "host", "virtual_system", "command", "admin", "client", "result", "configuration_path",
    "before_change_detail", "after_change_detail", "sequence_number", "action_flags",
) + _CONFIG_TAIL  # fmt: skip
# ... and what devices emit by default (10.1/11.0 samples): details last, optional.
CONFIG_OBSERVED = HEADER + (
    "host", "virtual_system", "command", "admin", "client", "result", "configuration_path",
    "sequence_number", "action_flags",
) + _CONFIG_TAIL + ("before_change_detail", "after_change_detail")  # fmt: skip

HIPMATCH = HEADER + (
    "source_user", "virtual_system", "machine_name", "operating_system", "source_address",
    "hip", "repeat_count", "hip_type", None, None, "sequence_number", "action_flags",
) + DG6 + (
    "virtual_system_id", "ipv6_source_address", "host_id", "endpoint_serial_number",
    "device_mac_address", "high_resolution_timestamp", "cluster_name",
)  # fmt: skip

_GP_BODY = (
    "virtual_system", "event_id", "stage", "authentication_method", "tunnel_type",
    "source_user", "source_region", "machine_name", "public_ip", "public_ipv6",
    "private_ip", "private_ipv6", "host_id", "endpoint_serial_number", "client_version",
    "client_os", "client_os_version", "repeat_count", "reason", "error", "description",
    "status", "location", "login_duration", "connect_method", "error_code", "portal",
)  # fmt: skip
GLOBALPROTECT = HEADER + _GP_BODY + (
    "sequence_number", "action_flags", "high_resolution_timestamp", "selection_type",
    "response_time", "priority", "attempted_gateways", "gateway",
) + DG6 + ("virtual_system_id", "cluster_name")  # fmt: skip
# PAN-OS ≤ 9.1.2: Type at position 5; sequence number and flags come right after the serial.
GLOBALPROTECT_LEGACY = (
    None, "receive_time", "serial_number", "sequence_number", "action_flags", "type",
    "subtype", None, "generated_time",
) + _GP_BODY  # fmt: skip

USERID = HEADER + (
    "virtual_system", "source_ip", "user", "data_source_name", "event_id", "repeat_count",
    "timeout_threshold", "source_port", "destination_port", "data_source",
    "data_source_type", "sequence_number", "action_flags",
) + DG6 + (
    "virtual_system_id", "factor_type", "factor_completion_time", "factor_number",
    "user_group_flags", "user_by_source", "tag_name", "high_resolution_timestamp",
    "origin_data_source", None, "cluster_name",
)  # fmt: skip

IPTAG = HEADER + (
    "virtual_system", "source_ip", "tag_name", "event_id", "repeat_count", "timeout",
    "data_source_name", "data_source_type", "data_source_subtype", "sequence_number",
    "action_flags",
) + DG6 + ("virtual_system_id", "high_resolution_timestamp", "cluster_name")  # fmt: skip

AUTHENTICATION = HEADER + (
    "virtual_system", "source_ip", "user", "normalize_user", "object",
    "authentication_policy", "repeat_count", "authentication_id", "vendor", "log_action",
    "server_profile", "description", "client_type", "event_type", "factor_number",
    "sequence_number", "action_flags",
) + DG6 + (
    "virtual_system_id", "authentication_protocol", "rule_uuid", "high_resolution_timestamp",
) + _dev8("source") + ("region", None, "user_agent", "session_id", "cluster_name")  # fmt: skip

DECRYPTION = HEADER + S_BLOCK + (
    "tunnel", None, None, "source_vm_uuid", "destination_vm_uuid", "rule_uuid",
    "stage_client_to_firewall", "stage_firewall_to_server", "tls_version",
    "key_exchange_algorithm", "encryption_algorithm", "hash_algorithm", "policy_name",
    "elliptic_curve", "error_index", "root_status", "chain_status", "proxy_type",
    "certificate_serial_number", "fingerprint", "certificate_start_date",
    "certificate_end_date", "certificate_version", "certificate_size",
    "common_name_length", "issuer_common_name_length", "root_common_name_length",
    "sni_length", "certificate_flags", "subject_common_name", "issuer_subject_common_name",
    "root_subject_common_name", "server_name_indication", "error", "container_id",
    "pod_namespace", "pod_name", "source_external_dynamic_list",
    "destination_external_dynamic_list", "source_dynamic_address_group",
    "destination_dynamic_address_group", "high_resolution_timestamp",
) + _dev8("source") + _dev8("destination") + (
    "sequence_number", "action_flags",
) + DG6 + ("virtual_system_id",) + APP8 + ("cluster_name",)  # fmt: skip

TUNNEL = HEADER + S_BLOCK + (
    "severity", "sequence_number", "action_flags", "source_location",
    "destination_location",
) + DG6 + (
    "tunnel_id_imsi", "monitor_tag_imei", "parent_session_id", "parent_start_time",
    "tunnel", "bytes", "bytes_sent", "bytes_received", "packets", "packets_sent",
    "packets_received", "maximum_encapsulation", "unknown_protocol", "strict_check",
    "tunnel_fragment", "sessions_created", "sessions_closed", "session_end_reason",
    "action_source", "start_time", "elapsed_time", "tunnel_inspection_rule",
    "remote_user_ip", "remote_user_id", "rule_uuid", "pcap_id", "dynamic_user_group",
    "source_external_dynamic_list", "destination_external_dynamic_list",
    "high_resolution_timestamp", "a_slice_differentiator", "a_slice_service_type",
    "pdu_session_id",
) + APP8 + ("cluster_name",)  # fmt: skip

CORRELATION = HEADER + (
    "source_address", "source_user", "virtual_system", "category", "severity",
) + DG6 + ("virtual_system_id", "object_name", "object_id", "evidence")  # fmt: skip


def _sparse(
    length: int, named: dict[int, str], base: tuple[str | None, ...] = ()
) -> tuple[str | None, ...]:
    cols: list[str | None] = list(base) + [None] * (length - len(base))
    for pos, name in named.items():
        cols[pos] = name
    return tuple(cols)


_S = dict(enumerate(S_BLOCK, start=7))
GTP = _sparse(
    94,
    {
        **{p: n for p, n in _S.items() if p not in (9, 10, 12, 13, 21, 23, 26, 27, 28)},
        31: "gtp_event_type", 32: "msisdn", 33: "access_point_name",
        34: "radio_access_technology", 35: "gtp_message_type", 36: "end_user_ip_address",
        37: "tunnel_endpoint_identifier1", 38: "tunnel_endpoint_identifier2",
        39: "gtp_interface", 40: "gtp_cause", 41: "severity", 42: "serving_country_mcc",
        43: "serving_network_mnc", 44: "area_code", 45: "cell_id", 46: "gtp_event_code",
        49: "source_location", 50: "destination_location", 58: "tunnel_id_imsi",
        59: "monitor_tag_imei", 76: "start_time", 77: "elapsed_time",
        78: "tunnel_inspection_rule", 79: "remote_user_ip", 80: "remote_user_id",
        81: "rule_uuid", 82: "pcap_id", 83: "high_resolution_timestamp",
        84: "a_slice_service_type", 85: "a_slice_differentiator",
        **dict(enumerate(APP8, start=86)),
    },
    HEADER,
)  # fmt: skip
SCTP = _sparse(
    65,
    {
        **{p: n for p, n in _S.items() if p <= 25 and p not in (9, 10, 12, 13, 14, 21)},
        30: "ip_protocol", 31: "action", **dict(enumerate(DG6, start=32)),
        38: "sequence_number", 40: "sctp_association_id", 41: "payload_protocol_id",
        42: "severity", 43: "sctp_chunk_type", 45: "sctp_verification_tag_1",
        46: "sctp_verification_tag_2", 47: "sctp_cause_code", 48: "diameter_app_id",
        49: "diameter_command_code", 50: "diameter_avp_code", 51: "sctp_stream_id",
        52: "sctp_association_end_reason", 53: "op_code", 54: "sccp_calling_party_ssn",
        55: "sccp_calling_party_global_title", 56: "sctp_filter", 57: "sctp_chunks",
        58: "sctp_chunks_sent", 59: "sctp_chunks_received", 60: "packets",
        61: "packets_sent", 62: "packets_received", 63: "rule_uuid",
        64: "high_resolution_timestamp",
    },
    HEADER[:4] + (None, None, "generated_time"),
)  # fmt: skip
# AUDIT is unconfirmed: Elastic reads event code, event id, user name, action, outcome.
AUDIT = HEADER + ("event_code", "event_id", "user_name", "audit_action", "audit_outcome")

LAYOUTS: dict[str, tuple[str | None, ...]] = {
    "traffic": TRAFFIC,
    "threat": THREAT,
    "system": SYSTEM,
    "config": CONFIG_OBSERVED,
    "config_docs": CONFIG_DOCS,
    "hipmatch": HIPMATCH,
    "globalprotect": GLOBALPROTECT,
    "globalprotect_legacy": GLOBALPROTECT_LEGACY,
    "userid": USERID,
    "iptag": IPTAG,
    "authentication": AUTHENTICATION,
    "decryption": DECRYPTION,
    "tunnel": TUNNEL,
    "correlation": CORRELATION,
    "gtp": GTP,
    "sctp": SCTP,
    "audit": AUDIT,
}

# Column counts per PAN-OS release (reference §2). The smallest is the minimum accepted.
VERSIONS: dict[str, dict[str, int]] = {
    "traffic": {"8.1": 65, "9.0": 67, "9.1": 75, "10.0": 105, "10.1": 115, "11.0": 115,
                "11.1": 117,
                "newest": len(TRAFFIC)},
    "threat": {"8.1 (samples)": 74, "8.1": 75, "9.x": 79, "10.0": 111, "10.1": 120,
               "10.2": 121, "11.0": 123},
    "system": {"9.1": 23, "10.0": 26},
    "config": {"10.1": 26, "11.0": 28},
    "config_docs": {"9.x": 24, "10.0": 28},
    "hipmatch": {"9.x": 29, "10.x": 31, "11.1": 32},
    "globalprotect": {"9.1.3": 36, "9.1.3+ft": 42, "10.x": 49, "11.x": 50},
    "globalprotect_legacy": {"9.1.2": 36},
    "userid": {"legacy": 20, "9.1": 32, "10.1": 34, "11.1": 37},
    "iptag": {"10.x": 26, "11.1": 27},
    "authentication": {"9.x": 33, "10.x": 46, "11.1": 47},
    "decryption": {"10.x": 106, "11.1": 107},
    "tunnel": {"10.x": 83, "11.1": 84},
    "correlation": {"9.x": 22},
    "gtp": {"10.x": 94},
    "sctp": {"10.x": 65},
    "audit": {"11.1": 12},
}  # fmt: skip

# Type column value → layout key. CONFIG and GLOBALPROTECT pick a variant in panos.py.
TYPE_ALIASES: dict[str, str] = {
    "TRAFFIC": "traffic",
    "THREAT": "threat",
    "SYSTEM": "system",
    "CONFIG": "config",
    "HIPMATCH": "hipmatch",
    "HIP-MATCH": "hipmatch",
    "GLOBALPROTECT": "globalprotect",
    "USERID": "userid",
    "IPTAG": "iptag",
    "AUTHENTICATION": "authentication",
    "DECRYPTION": "decryption",
    "START": "tunnel",
    "END": "tunnel",
    "CORRELATION": "correlation",
    "GTP": "gtp",
    "SCTP": "sctp",
    "AUDIT": "audit",
}

# Per layout: event.kind, event.category, and the rule that decides event.outcome
# ("allow": success iff action == allow; "threat": success for alert/allow/continue;
# "result": CONFIG Succeeded/Failed; "status": GP status; "error": DECRYPTION error set;
# "success": always; None: not set). Rules live in panos.py.
TYPE_PROFILES: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "traffic": ("event", ("network",), "allow"),
    "threat": ("alert", ("intrusion_detection", "threat", "network"), "threat"),
    "system": ("event", ("configuration",), None),
    "config": ("event", ("configuration",), "result"),
    "config_docs": ("event", ("configuration",), "result"),
    "hipmatch": ("event", ("network",), None),
    "globalprotect": ("event", ("network",), "status"),
    "globalprotect_legacy": ("event", ("network",), "status"),
    "userid": ("event", ("network", "iam"), None),
    "iptag": ("event", ("network",), None),
    "authentication": ("event", ("authentication",), "success"),
    "decryption": ("event", ("network",), "error"),
    "tunnel": ("event", ("network",), "allow"),
    "correlation": ("event", ("network",), "success"),
    "gtp": ("event", ("network",), "allow"),
    "sctp": ("event", ("network",), "allow"),
    "audit": ("event", ("configuration",), None),
}

# Column name → (ECS field, converter). Converters (panos.py): str, lower, ip, ips, int,
# time (PAN-OS local time → UTC), dur (seconds → ns). A value the converter rejects stays
# in panw.panos.<column> as a string, so nothing is lost.
ECS_COLUMNS: dict[str, tuple[str, str]] = {
    "source_address": ("source.ip", "ip"),
    "source_ip": ("source.ip", "ip"),
    "destination_address": ("destination.ip", "ip"),
    "nat_source_ip": ("source.nat.ip", "ip"),
    "nat_destination_ip": ("destination.nat.ip", "ip"),
    "source_port": ("source.port", "int"),
    "destination_port": ("destination.port", "int"),
    "nat_source_port": ("source.nat.port", "int"),
    "nat_destination_port": ("destination.nat.port", "int"),
    "rule_name": ("rule.name", "str"),
    "rule_uuid": ("rule.uuid", "str"),
    "tunnel_inspection_rule": ("rule.name", "str"),
    "application": ("network.application", "lower"),
    "protocol": ("network.transport", "lower"),
    "source_zone": ("observer.ingress.zone", "str"),
    "destination_zone": ("observer.egress.zone", "str"),
    "inbound_interface": ("observer.ingress.interface.name", "str"),
    "outbound_interface": ("observer.egress.interface.name", "str"),
    "device_name": ("observer.hostname", "str"),
    "bytes": ("network.bytes", "int"),
    "bytes_sent": ("source.bytes", "int"),
    "bytes_received": ("destination.bytes", "int"),
    "packets": ("network.packets", "int"),
    "packets_sent": ("source.packets", "int"),
    "packets_received": ("destination.packets", "int"),
    "start_time": ("event.start", "time"),
    "elapsed_time": ("event.duration", "dur"),
    "login_duration": ("event.duration", "dur"),
    "event_id": ("event.code", "str"),
    "reason": ("event.reason", "str"),
    "file_type": ("file.type", "str"),
    "referer": ("http.request.referrer", "str"),
    "http_method": ("http.request.method", "str"),
    "user_agent": ("user_agent.original", "str"),
    "sender": ("source.user.email", "str"),
    "recipient": ("destination.user.email", "str"),
    "x_forwarded_for": ("network.forwarded_ip", "ip"),
    "host_id": ("host.id", "str"),
    "machine_name": ("host.name", "lower"),
    "client_os": ("host.os.family", "str"),
    "client_os_version": ("host.os.full", "str"),
    "operating_system": ("host.os.full", "str"),
    "device_mac_address": ("host.mac", "str"),
    "host": ("host.ip", "ips"),
    "description": ("message", "str"),
    "encryption_algorithm": ("tls.cipher", "str"),
    "elliptic_curve": ("tls.curve", "str"),
    "server_name_indication": ("tls.client.server_name", "str"),
    "subject_common_name": ("tls.server.x509.subject.common_name", "str"),
    "issuer_subject_common_name": ("tls.server.x509.issuer.common_name", "str"),
    "certificate_serial_number": ("tls.server.x509.serial_number", "str"),
    "certificate_version": ("tls.server.x509.version_number", "str"),
    "certificate_start_date": ("tls.server.x509.not_before", "time"),
    "certificate_end_date": ("tls.server.x509.not_after", "time"),
    "admin": ("user.name", "str"),
    "user_name": ("user.name", "str"),
}

# Per-layout exceptions to ECS_COLUMNS (None = keep the column vendor-only).
ECS_OVERRIDES: dict[str, dict[str, tuple[str, str] | None]] = {
    # SYSTEM/AUTHENTICATION descriptions are the message; GP's is free text beside Status.
    "globalprotect": {"description": None},
    "globalprotect_legacy": {"description": None},
    "authentication": {"description": None},
    # Threat "Reason" is a data-filtering reason code, not why the event happened.
    "threat": {"reason": None},
    # AUDIT's layout is unconfirmed: keep its columns vendor-only apart from the user.
    "audit": {"event_id": None},
}
