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

{{/* The configuration as lagscale reads it. */}}
{{- define "lagscale.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $le := $cfg.leaderElection | default dict }}
{{- $_ := set $le "namespace" (include "lagscale.leaseNamespace" .) }}
{{- $_ := set $cfg "leaderElection" $le }}
{{- toYaml $cfg }}
{{- end }}

{{/* The port of config.server.address ("host:port"), 8080 by default. */}}
{{- define "lagscale.port" -}}
{{- $addr := "" }}
{{- with .Values.config.server }}{{ $addr = .address | default "" }}{{ end }}
{{- $parts := splitList ":" $addr }}
{{- $port := last $parts }}
{{- if and (gt (len $parts) 1) $port }}{{ $port }}{{ else }}8080{{ end }}
{{- end }}
