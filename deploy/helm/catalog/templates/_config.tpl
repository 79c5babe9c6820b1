{{/*
The catalog config file of each component. Each holds only the sections
its component reads, so a component never sees (nor needs the environment
variables of) another's secrets. Keys the chart owns: listen addresses,
URLs and `${VAR}` references to Secrets.
*/}}

{{- define "catalog.config.header" -}}
# Rendered by the catalog Helm chart. The catalog fills the environment
# references in it (a dollar sign and a name in braces) from the container's
# environment, set from Secrets, when it loads this file.
{{- end }}

{{- define "catalog.config.ingest" -}}
{{ include "catalog.config.header" . }}
nats:
  {{- include "catalog.natsSection" (dict "root" . "component" "ingest") | nindent 2 }}
ingest:
  {{- toYaml (.Values.ingest.config | default dict) | nindent 2 }}
metrics:
  {{- include "catalog.metricsSection" . | nindent 2 }}
telemetry:
  {{- include "catalog.telemetrySection" . | nindent 2 }}
{{- end }}

{{/* (dict "root" $ "owned" (list 0 1)); owned empty: every partition. */}}
{{- define "catalog.config.projector" -}}
{{- $root := .root -}}
{{ include "catalog.config.header" $root }}
nats:
  {{- include "catalog.natsSection" (dict "root" $root "component" "projector") | nindent 2 }}
postgres:
  {{- include "catalog.postgresSection" $root | nindent 2 }}
projector:
  {{- $p := deepCopy ($root.Values.projector.config | default dict) }}
  {{- $_ := set $p "owned_partitions" (.owned | default list) }}
  {{- toYaml $p | nindent 2 }}
metrics:
  {{- include "catalog.metricsSection" $root | nindent 2 }}
telemetry:
  {{- include "catalog.telemetrySection" $root | nindent 2 }}
{{- end }}

{{- define "catalog.config.api" -}}
{{ include "catalog.config.header" . }}
nats:
  {{- include "catalog.natsSection" (dict "root" . "component" "api") | nindent 2 }}
postgres:
  {{- include "catalog.postgresSection" . | nindent 2 }}
api:
  {{- $a := deepCopy (.Values.api.config | default dict) }}
  {{- $_ := set $a "listen" "0.0.0.0:50051" }}
  {{- if .Values.api.pageTokenSecret.existingSecret }}
  {{- $_ := set $a "page_token_secret" "${CATALOG_PAGE_TOKEN_SECRET}" }}
  {{- end }}
  {{- toYaml $a | nindent 2 }}
metrics:
  {{- include "catalog.metricsSection" . | nindent 2 }}
telemetry:
  {{- include "catalog.telemetrySection" . | nindent 2 }}
{{- end }}

{{- define "catalog.apiUrl" -}}
{{- if .Values.uiBridge.apiUrl }}
{{- .Values.uiBridge.apiUrl }}
{{- else }}
{{- printf "http://%s-api:%v" (include "catalog.fullname" .) .Values.api.service.port }}
{{- end }}
{{- end }}

{{- define "catalog.config.uiBridge" -}}
{{ include "catalog.config.header" . }}
ui_bridge:
  {{- $b := deepCopy (.Values.uiBridge.config | default dict) }}
  {{- $_ := set $b "listen" "0.0.0.0:7007" }}
  {{- $_ := set $b "api_url" (include "catalog.apiUrl" .) }}
  {{- $auth := deepCopy ($b.auth | default dict) }}
  {{- if .Values.uiBridge.sessionSecret.existingSecret }}
  {{- $_ := set $auth "session_secret" "${CATALOG_SESSION_SECRET}" }}
  {{- end }}
  {{- if .Values.uiBridge.apiToken.existingSecret }}
  {{- $_ := set $auth "api_token" "${CATALOG_UI_BRIDGE_API_TOKEN}" }}
  {{- end }}
  {{- if $auth }}
  {{- $_ := set $b "auth" $auth }}
  {{- end }}
  {{- toYaml $b | nindent 2 }}
metrics:
  {{- include "catalog.metricsSection" . | nindent 2 }}
telemetry:
  {{- include "catalog.telemetrySection" . | nindent 2 }}
{{- end }}

{{/* `catalog init-streams`: the admin's credentials, and the settings of
the streams it creates (dead letters, lease bucket TTL). */}}
{{- define "catalog.config.initStreams" -}}
{{ include "catalog.config.header" . }}
nats:
  {{- include "catalog.natsSection" (dict "root" . "component" "admin") | nindent 2 }}
ingest:
  {{- toYaml (.Values.ingest.config | default dict) | nindent 2 }}
projector:
  {{- toYaml (.Values.projector.config | default dict) | nindent 2 }}
{{- end }}

{{- define "catalog.config.migrate" -}}
{{ include "catalog.config.header" . }}
postgres:
  {{- include "catalog.postgresSection" . | nindent 2 }}
{{- end }}

{{/*
The projector Deployments: one per group, or one owning every partition.
Each entry: name suffix ("" for the single one), config key, owned list.
Checks that the groups' partitions are disjoint and cover every partition,
so that no partition is left unapplied.
*/}}
{{- define "catalog.projectorGroups" -}}
{{- $partitions := int (.Values.projector.config.partitions | default 1) }}
{{- $groups := list }}
{{- if .Values.projector.groups }}
{{- $seen := dict }}
{{- range .Values.projector.groups }}
{{- range .ownedPartitions }}
{{- if ge (int .) $partitions }}
{{- fail (printf "projector.groups: partition %v is not below projector.config.partitions (%d)" . $partitions) }}
{{- end }}
{{- if hasKey $seen (toString .) }}
{{- fail (printf "projector.groups: partition %v is owned by two groups" .) }}
{{- end }}
{{- $_ := set $seen (toString .) true }}
{{- end }}
{{- $groups = append $groups (dict "suffix" (printf "-%s" .name) "key" (printf "projector-%s.yaml" .name) "owned" .ownedPartitions) }}
{{- end }}
{{- if ne (len $seen) $partitions }}
{{- fail (printf "projector.groups own %d of the %d partitions: every partition 0..%d must be owned by one group" (len $seen) $partitions (sub $partitions 1)) }}
{{- end }}
{{- else }}
{{- $groups = list (dict "suffix" "" "key" "projector.yaml" "owned" list) }}
{{- end }}
{{- toJson (dict "groups" $groups) }}
{{- end }}
