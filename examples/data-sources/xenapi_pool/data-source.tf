# The pool the provider is connected to.
data "xenapi_pool" "this" {}

output "pool_master" {
  value = data.xenapi_pool.this.master_host_name_label
}

output "default_sr_uuid" {
  value = data.xenapi_pool.this.default_sr_uuid
}
