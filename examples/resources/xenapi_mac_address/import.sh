# Import an existing address (any case, ':' or '-' separated). The prefix is
# inferred: "xensource" for 00:16:3e:..., "local" for a locally administered
# address, otherwise the address's first three octets.
terraform import xenapi_mac_address.web 02:4f:a1:00:3c:9e

# To record an explicit prefix instead, append it after a comma.
terraform import xenapi_mac_address.lab 0a:00:27:5e:10:c4,0a:00:27
