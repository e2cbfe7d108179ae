# A locally administered unicast MAC, generated once and kept in state.
resource "xenapi_mac_address" "web" {}

# A MAC in the XenSource OUI (00:16:3e:xx:xx:xx) that is regenerated
# whenever the VM's name changes.
resource "xenapi_mac_address" "db" {
  prefix = "xensource"
  keepers = {
    vm_name = "db-01"
  }
}

# A MAC with an explicit (unicast) 3-octet prefix.
resource "xenapi_mac_address" "lab" {
  prefix = "0a:00:27"
}

output "web_mac" {
  value = xenapi_mac_address.web.address
}
