# A host by name (or set `uuid` instead).
data "xenapi_host" "second" {
  name_label = "lab-host-2"
}

output "host_address" {
  value = data.xenapi_host.second.address
}
