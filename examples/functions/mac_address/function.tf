# The same seed always gives the same address: here a stable MAC per VM
# name and interface, known at plan time.
output "web_eth0_mac" {
  value = provider::xenapi::mac_address("web-01/eth0")
  # => "16:d3:5f:73:10:51" (locally administered, unicast)
}

# With a prefix: "local" (default), "xensource" or an explicit "aa:bb:cc".
output "web_eth1_mac" {
  value = provider::xenapi::mac_address("web-01/eth1", "xensource")
  # => "00:16:3e:a0:c7:9f"
}
