/*
 * Names of the runtime's external symbols. In edgeimpro's own builds they keep their names (eip_conv2d,
 * eip_status_str, ...) and this file is empty. `edgeimpro export --target aot --name NAME` writes a
 * version of it that renames every one of them to NAME_eip_..., so that several exported models, each
 * with its own copy of the runtime, link into one program (docs/aot-model-api.md).
 */
#ifndef EIP_NAMES_H
#define EIP_NAMES_H
#endif /* EIP_NAMES_H */
