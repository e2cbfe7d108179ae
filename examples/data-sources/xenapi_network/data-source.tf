# A network by name (or set `uuid` instead).
data "xenapi_network" "lan" {
  name_label = "Pool-wide network associated with eth0"
}

output "lan_bridge" {
  value = data.xenapi_network.lan.bridge
}
