import {
  to = xenapi_mac_address.web
  id = "02:4f:a1:00:3c:9e"
}
