{{/* The chart's name, or nameOverride. */}}
{{- define "lagscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: RELEASE-lagscale, or just RELEASE when it already says lagscale. */}}
{{- define "lagscale.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "lagscale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lagscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lagscale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lagscale.labels" -}}
helm.sh/chart: {{ include "lagscale.chart" . }}
{{ include "lagscale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "lagscale.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lagscale.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Where the leader-election Lease lives: config.leaderElection.namespace, or the release namespace. */}}
{{- define "lagscale.leaseNamespace" -}}
{{- $le := .Values.config.leaderElection | default dict }}
{{- default .Release.Namespace $le.namespace }}
{{- end }}

{{/*
The configuration as lagscale reads it. kubernetes.watchNamespaces and
kubernetes.lagScalers follow the top-level watchNamespaces and
lagScalers.enabled, which set the RBAC too: setting them in config as well
fails the render, as the two could disagree.
*/}}
{{- define "lagscale.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $le := $cfg.leaderElection | default dict }}
{{- $_ := set $le "namespace" (include "lagscale.leaseNamespace" .) }}
{{- $_ := set $cfg "leaderElection" $le }}
{{- $kube := $cfg.kubernetes | default dict }}
{{- if hasKey $kube "watchNamespaces" }}
{{- fail "config.kubernetes.watchNamespaces: set the chart's watchNamespaces instead (it sets the RBAC to match)" }}
{{- end }}
{{- if hasKey $kube "lagScalers" }}
{{- fail "config.kubernetes.lagScalers: set the chart's lagScalers.enabled instead (it sets the RBAC to match)" }}
{{- end }}
{{- if .Values.watchNamespaces }}
{{- $_ := set $kube "watchNamespaces" .Values.watchNamespaces }}
{{- end }}
{{- if not (include "lagscale.lagScalers" .) }}
{{- $_ := set $kube "lagScalers" false }}
{{- end }}
{{- $_ := set $cfg "kubernetes" $kube }}
{{- toYaml $cfg }}
{{- end }}

{{/* "true" when lagscale watches LagScaler objects (lagScalers.enabled, true unless set false). */}}
{{- define "lagscale.lagScalers" -}}
{{- $ls := .Values.lagScalers | default dict }}
{{- if or (not (hasKey $ls "enabled")) (kindIs "invalid" $ls.enabled) $ls.enabled }}true{{ end }}
{{- end }}

{{/* The port of config.server.address ("host:port"), 8080 by default. */}}
{{- define "lagscale.port" -}}
{{- $addr := "" }}
{{- with .Values.config.server }}{{ $addr = .address | default "" }}{{ end }}
{{- $parts := splitList ":" $addr }}
{{- $port := last $parts }}
{{- if and (gt (len $parts) 1) $port }}
{{- if not (and (regexMatch "^[0-9]+$" $port) (ge (atoi $port) 1) (le (atoi $port) 65535)) }}
{{- fail (printf "config.server.address: %q: the pod needs a port from 1 to 65535 for its probes and the Service" $addr) }}
{{- end }}
{{- $port }}
{{- else }}8080{{ end }}
{{- end }}

{{/* "true" when leader election is on (config.leaderElection.enabled, true unless set false). */}}
{{- define "lagscale.leaderElection" -}}
{{- $le := .Values.config.leaderElection | default dict }}
{{- if or (not (hasKey $le "enabled")) (kindIs "invalid" $le.enabled) $le.enabled }}true{{ end }}
{{- end }}

{{/*
The rules on the scaled workloads: as deploy/rbac.yaml's ClusterRole; the
LagScaler rules (read them, patch their status) only with lagScalers.enabled.
*/}}
{{- define "lagscale.workloadRules" -}}
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["apps"]
  resources: ["deployments/scale", "statefulsets/scale"]
  verbs: ["get", "update", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if include "lagscale.lagScalers" . }}
- apiGroups: ["lagscale.io"]
  resources: ["lagscalers"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["lagscale.io"]
  resources: ["lagscalers/status"]
  verbs: ["patch"]
{{- end }}
{{- end }}

{{/*
With watchNamespaces, every scaler's target must be in one of them: its
RBAC would not allow lagscale to read or scale it. Fails the render,
naming the scaler.
*/}}
{{- define "lagscale.checkWatchNamespaces" -}}
{{- $watched := .Values.watchNamespaces }}
{{- range $i, $s := .Values.config.scalers }}
{{- $t := $s.target | default dict }}
{{- if and (kindIs "map" $t) $t.name }}
{{- $tns := $t.namespace | default "default" }}
{{- if not (has $tns $watched) }}
{{- fail (printf "config.scalers[%d] (%v): target namespace %q is not in watchNamespaces %v; lagscale would have no permission there" $i ($s.name | default "unnamed") $tns $watched) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
