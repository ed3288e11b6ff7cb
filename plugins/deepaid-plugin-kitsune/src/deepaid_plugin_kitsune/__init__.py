"""deepaid-plugin-kitsune: explain Kitsune (KitNET) alerts on AfterImage traffic features."""

from deepaid_plugin_kitsune.adapters import KitNETAdapter
from deepaid_plugin_kitsune.afterimage import extract_features, pcap_features
from deepaid_plugin_kitsune.kitnet import KitNET, fit_kitnet
from deepaid_plugin_kitsune.mapper import FeatureMapper
from deepaid_plugin_kitsune.names import feature_names
from deepaid_plugin_kitsune.packets import PacketTable, read_pcap
from deepaid_plugin_kitsune.preset import KitsuneInterpreter, kitsune_interpreter

__all__ = [
    "FeatureMapper",
    "KitNET",
    "KitNETAdapter",
    "KitsuneInterpreter",
    "PacketTable",
    "extract_features",
    "feature_names",
    "fit_kitnet",
    "kitsune_interpreter",
    "pcap_features",
    "read_pcap",
]
