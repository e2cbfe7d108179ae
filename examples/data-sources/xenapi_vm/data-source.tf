# An existing VM by name (or set `uuid` instead), e.g. one not managed by
# this configuration.
data "xenapi_vm" "dns" {
  name_label = "dns-1"
}

output "dns_ipv4" {
  value = data.xenapi_vm.dns.ipv4_addresses
}

output "dns_macs" {
  value = [for nic in data.xenapi_vm.dns.network_interfaces : nic.mac]
}
