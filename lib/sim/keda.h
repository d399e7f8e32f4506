/*
 * keda.h - a baseline for `lagscale simulate --policy keda`: KEDA's Kafka
 * scaler feeding a HorizontalPodAutoscaler with its default behavior, as
 * they behave today, so lagscale's decisions can be compared with them on
 * the same scenario. It takes the same params and inputs as the policy
 * engine (lib/policy) and returns the same struct ls_decision.
 * Of the params it uses what KEDA and the HPA have: lagThreshold,
 * activationLagThreshold, min/max/idle replicas, pollingInterval,
 * cooldownPeriod, allowIdleConsumers, limitToPartitionsWithLag,
 * offsetResetPolicy, scaleToZeroOnInvalidOffset, the behavior and the
 * fallback (enabled when fallback.replicas > 0, as KEDA requires). The HPA
 * tolerance is the controller default 0.1.
 *
 * Where each rule comes from is said at the rule in keda.c. Timing: KEDA's
 * own loop runs every pollingInterval (activation, cooldown, scaling from
 * and to zero); the HPA syncs every LS_KEDA_HPA_SYNC_MS and reads the
 * scaler's metric afresh each time. Times are measured from the start of
 * the run: call ls_keda_decide() whenever ls_keda_due() says so.
 *
 * Not thread-safe; one handle per simulated scaler.
 */
#ifndef LS_SIM_KEDA_H
#define LS_SIM_KEDA_H

#include <stdbool.h>
#include <stdint.h>

#include "policy/policy.h"

/* The HPA controller's --horizontal-pod-autoscaler-sync-period default. */
#define LS_KEDA_HPA_SYNC_MS 15000

struct ls_keda;

/* NULL on -ENOMEM. _free(NULL) is a no-op. */
struct ls_keda *ls_keda_new(void);
void ls_keda_free(struct ls_keda *k);

/*
 * True when KEDA's loop or the HPA is due at now_ms. Both run first at the
 * first call, then every pollingInterval (KEDA) and every
 * LS_KEDA_HPA_SYNC_MS (the HPA).
 */
bool ls_keda_due(const struct ls_keda *k, const struct ls_policy_params *p, int64_t now_ms);

/*
 * Runs what is due at in->now_ms: KEDA's loop, then the HPA on the
 * replicas KEDA left. The result's desired_replicas is what the target has
 * afterwards (the baseline assumes its changes are applied: it records its
 * own scale events). 0, -EINVAL (NULL argument, invalid params; ret
 * untouched) or -ENOMEM. in->paused is honoured like KEDA's
 * autoscaling.keda.sh/paused-replicas annotation.
 */
int ls_keda_decide(struct ls_keda *k, const struct ls_policy_params *p,
		   const struct ls_policy_input *in, struct ls_decision *ret);

#endif
