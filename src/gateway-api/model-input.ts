// Where the Gateway API meets the model: a config set's Gateway API objects are replaced by the
// Istio objects istiod would make of them (convert.ts), so the model and the translators only
// ever see Istio's kinds. The conversion of one object list is kept, so the leader's status
// writer reads the statuses of exactly what the model was built from.
import type { ConfigSet } from "../model/snapshot.js";
import { convertGatewayApi, type GatewayApiConversion } from "./convert.js";
import { isGatewayApiObject } from "./objects.js";

const conversions = new WeakMap<ConfigSet["objects"], { readonly domain: string; readonly conversion: GatewayApiConversion }>();

const none: GatewayApiConversion = { objects: [], statuses: [], errors: [] };

/** The conversion of a config set's Gateway API objects (empty when it has none). */
export function gatewayApiConversion(input: Pick<ConfigSet, "objects">, domain: string): GatewayApiConversion {
  const known = conversions.get(input.objects);
  if (known !== undefined && known.domain === domain) return known.conversion;
  const conversion = input.objects.some(isGatewayApiObject) ? convertGatewayApi({ objects: input.objects, domain }) : none;
  conversions.set(input.objects, { domain, conversion });
  return conversion;
}

/** The config set the model reads: Gateway API objects replaced by their Istio objects. */
export function withGatewayApi(input: ConfigSet, domain: string): ConfigSet {
  const conversion = gatewayApiConversion(input, domain);
  if (conversion === none) return input;
  return {
    ...input,
    objects: [...input.objects.filter((o) => !isGatewayApiObject(o)), ...conversion.objects],
    errors: [...input.errors, ...conversion.errors],
  };
}
