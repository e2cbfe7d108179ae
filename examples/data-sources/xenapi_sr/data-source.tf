# A storage repository by name (or set `uuid` instead).
data "xenapi_sr" "shared" {
  name_label = "Shared NFS storage"
}

output "sr_free_bytes" {
  value = data.xenapi_sr.shared.physical_size - data.xenapi_sr.shared.physical_utilisation
}
