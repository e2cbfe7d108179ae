//! `provider::xenapi::mac_address(seed)` and `mac_address(seed, prefix)`: a
//! deterministic MAC address from a string seed.

use schema::{Type, Value};

use crate::framework::{Function, FunctionDefinition, FunctionError, Parameter};
use crate::mac::MacPrefix;

/// The function's name.
pub const NAME: &str = "mac_address";

/// The `mac_address` function.
#[derive(Debug, Default, Clone, Copy)]
pub struct MacAddressFunction;

impl Function for MacAddressFunction {
    fn name(&self) -> &'static str {
        NAME
    }

    fn definition(&self) -> FunctionDefinition {
        FunctionDefinition {
            parameters: vec![Parameter::new(
                "seed",
                Type::String,
                "Any string; the same seed always gives the same address. Use something \
                 unique per interface, e.g. `\"${var.vm_name}/eth0\"`.",
            )],
            variadic_parameter: Some(Parameter::new(
                "prefix",
                Type::String,
                "Optional, at most one: `\"local\"` (the default), `\"xensource\"` or an \
                 explicit unicast 3-octet prefix such as `\"0a:00:27\"`.",
            )),
            return_type: Type::String,
            summary: "Derive a stable MAC address from a string seed".to_owned(),
            description: "Returns a MAC address computed from `seed`, lowercase and \
                 colon-separated. The result depends only on the arguments: it is known at \
                 plan time, needs no provider configuration and no pool, and never changes \
                 between runs or provider versions.\n\n\
                 The address is derived from the SHA-256 digest of the seed's UTF-8 bytes. \
                 With the `\"local\"` prefix (the default) it is the digest's first six bytes \
                 with bit 1 of the first octet set (locally administered) and bit 0 cleared \
                 (unicast), i.e. `substr(sha256(seed), 0, 12)` with those two bits fixed. \
                 With `\"xensource\"` it is `00:16:3e` followed by the digest's first three \
                 bytes; with an explicit prefix, that prefix followed by the digest's first \
                 three bytes.\n\n\
                 Unlike the `xenapi_mac_address` resource, nothing is checked against the \
                 addresses already in use: two equal seeds give equal addresses, so make \
                 seeds unique (the 24-bit space of the OUI prefixes makes collisions likely \
                 with thousands of seeds)."
                .to_owned(),
            deprecation_message: None,
        }
    }

    fn call(&self, args: &[Value]) -> Result<Value, FunctionError> {
        let seed = match args.first() {
            Some(Value::String(seed)) => seed.as_str(),
            Some(_) => return Err(FunctionError::argument(0, "seed must be a known string")),
            None => return Err(FunctionError::new("mac_address needs a seed argument")),
        };
        let prefix = match &args[1..] {
            [] => MacPrefix::Local,
            [Value::String(text)] => MacPrefix::parse(text)
                .map_err(|e| FunctionError::argument(1, format!("invalid prefix: {e}")))?,
            [_] => return Err(FunctionError::argument(1, "prefix must be a known string")),
            [_, _, ..] => {
                return Err(FunctionError::argument(
                    2,
                    format!(
                        "mac_address takes at most two arguments (seed, prefix), got {}",
                        args.len()
                    ),
                ));
            }
        };
        Ok(Value::from(prefix.derive(seed).to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: &[&str]) -> Result<Value, FunctionError> {
        let args: Vec<Value> = args.iter().map(|a| Value::from(*a)).collect();
        MacAddressFunction.call(&args)
    }

    #[test]
    fn derives_the_documented_addresses() {
        // Also the values quoted in examples/functions/mac_address/function.tf.
        assert_eq!(
            call(&["web-01/eth0"]).unwrap(),
            Value::from("16:d3:5f:73:10:51")
        );
        assert_eq!(
            call(&["web-01/eth1", "xensource"]).unwrap(),
            Value::from("00:16:3e:a0:c7:9f")
        );
        assert_eq!(
            call(&["web-0", "local"]).unwrap(),
            Value::from("1a:e6:fa:c6:e0:a6")
        );
        assert_eq!(
            call(&["vm-42/eth1", "AA:BB:CC"]).unwrap(),
            Value::from("aa:bb:cc:f5:16:17")
        );
    }

    #[test]
    fn bad_prefix_points_at_argument_1() {
        let err = call(&["x", "01:00:5e"]).unwrap_err();
        assert_eq!(err.argument, Some(1));
        assert!(err.text.contains("multicast"), "{}", err.text);
        let err = call(&["x", "nope"]).unwrap_err();
        assert_eq!(err.argument, Some(1));
        assert!(err.text.contains("\"xensource\""), "{}", err.text);
    }

    #[test]
    fn too_many_arguments_point_at_the_extra_one() {
        let err = call(&["x", "local", "local"]).unwrap_err();
        assert_eq!(err.argument, Some(2));
        assert!(err.text.contains("at most two"), "{}", err.text);
    }

    #[test]
    fn non_string_arguments_are_errors_not_panics() {
        let err = MacAddressFunction.call(&[Value::Null]).unwrap_err();
        assert_eq!(err.argument, Some(0));
        let err = MacAddressFunction
            .call(&[Value::from("x"), Value::unknown()])
            .unwrap_err();
        assert_eq!(err.argument, Some(1));
        let err = MacAddressFunction.call(&[]).unwrap_err();
        assert_eq!(err.argument, None);
    }

    #[test]
    fn definition_has_one_parameter_and_a_variadic_prefix() {
        let d = MacAddressFunction.definition();
        assert_eq!(d.parameters.len(), 1);
        assert_eq!(d.parameters[0].name, "seed");
        assert!(!d.parameters[0].allow_null_value);
        assert!(!d.parameters[0].allow_unknown_values);
        assert_eq!(d.variadic_parameter.unwrap().name, "prefix");
        assert_eq!(d.return_type, Type::String);
    }
}
