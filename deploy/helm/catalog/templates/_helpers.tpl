{{/*
Names, labels and the pieces every workload shares.
*/}}

{{- define "catalog.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name: the release name when it already contains the chart
name, else "<release>-<chart>". Component objects append "-<component>", so
this is cut to 45 characters to leave room for "-ui-bridge-<group>".
*/}}
{{- define "catalog.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 45 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 45 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "catalog.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select the release's pods (never change them on upgrade). */}}
{{- define "catalog.selectorLabels" -}}
app.kubernetes.io/name: {{ include "catalog.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "catalog.labels" -}}
helm.sh/chart: {{ include "catalog.chart" . }}
{{ include "catalog.selectorLabels" . }}
app.kubernetes.io/version: {{ include "catalog.imageTag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: catalog
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: (dict "root" $ "component" "api"). */}}
{{- define "catalog.componentSelectorLabels" -}}
{{ include "catalog.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "catalog.componentLabels" -}}
{{ include "catalog.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "catalog.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "catalog.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "catalog.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "catalog.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (include "catalog.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
The NATS URL: the subchart's client Service when it is enabled, else
externalNats.url. The subchart names its Service like its own
"nats.fullname" helper does, which this mirrors.
*/}}
{{- define "catalog.natsFullname" -}}
{{- $n := .Values.nats }}
{{- if $n.fullnameOverride }}
{{- $n.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default "nats" $n.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "catalog.natsUrl" -}}
{{- if .Values.nats.enabled }}
{{- $port := 4222 }}
{{- if and .Values.nats.config .Values.nats.config.nats .Values.nats.config.nats.port }}
{{- $port = .Values.nats.config.nats.port }}
{{- end }}
{{- printf "nats://%s:%v" (include "catalog.natsFullname" .) $port }}
{{- else }}
{{- required "externalNats.url is required when nats.enabled is false" .Values.externalNats.url }}
{{- end }}
{{- end }}

{{/*
The NATS credentials of a component, (dict "root" $ "component" "ingest"):
nats.auth.components.<component> when it names a Secret, else nats.auth
(shared by every component). Rendered as YAML; read with fromYaml.
*/}}
{{- define "catalog.natsAuthOf" -}}
{{- $a := .root.Values.nats.auth }}
{{- $c := dig "components" .component dict $a }}
{{- if and $c $c.existingSecret }}
{{- toYaml (merge (deepCopy $c) (dict "credsKey" "" "userKey" "" "passwordKey" "" "tokenKey" "")) }}
{{- else }}
{{- toYaml (omit $a "components") }}
{{- end }}
{{- end }}

{{/*
The catalog's `nats:` section for a component, (dict "root" $ "component"
"ingest"). Credentials are `${VAR}` references that the catalog substitutes
from the environment at load time; the variables come from the component's
Secret ("catalog.natsAuthEnv").
*/}}
{{- define "catalog.natsSection" -}}
{{- $root := .root }}
{{- $a := include "catalog.natsAuthOf" . | fromYaml }}
{{- $s := dict "url" (include "catalog.natsUrl" $root) "stream" $root.Values.nats.stream.name "subject_prefix" $root.Values.nats.stream.subjectPrefix "replicas" $root.Values.nats.stream.replicas "manage_streams" (or (eq .component "admin") $root.Values.nats.manageStreams) }}
{{- if $a.existingSecret }}
{{- if $a.credsKey }}
{{- $_ := set $s "creds_file" (printf "/etc/catalog/nats/%s" $a.credsKey) }}
{{- end }}
{{- if $a.userKey }}
{{- $_ := set $s "user" "${CATALOG_NATS_USER}" }}
{{- end }}
{{- if $a.passwordKey }}
{{- $_ := set $s "password" "${CATALOG_NATS_PASSWORD}" }}
{{- end }}
{{- if $a.tokenKey }}
{{- $_ := set $s "token" "${CATALOG_NATS_TOKEN}" }}
{{- end }}
{{- end }}
{{- toYaml $s }}
{{- end }}

{{/* The environment of a component's NATS credentials, (dict "root" $ "component" ...). */}}
{{- define "catalog.natsAuthEnv" -}}
{{- $a := include "catalog.natsAuthOf" . | fromYaml }}
{{- if $a.existingSecret }}
{{- range $var, $key := dict "CATALOG_NATS_USER" $a.userKey "CATALOG_NATS_PASSWORD" $a.passwordKey "CATALOG_NATS_TOKEN" $a.tokenKey }}
{{- if $key }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $a.existingSecret }}
      key: {{ $key }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{- define "catalog.natsAuthVolumeMounts" -}}
{{- $a := include "catalog.natsAuthOf" . | fromYaml }}
{{- if and $a.existingSecret $a.credsKey }}
- name: nats-creds
  mountPath: /etc/catalog/nats
  readOnly: true
{{- end }}
{{- end }}

{{- define "catalog.natsAuthVolumes" -}}
{{- $a := include "catalog.natsAuthOf" . | fromYaml }}
{{- if and $a.existingSecret $a.credsKey }}
- name: nats-creds
  secret:
    secretName: {{ $a.existingSecret }}
    defaultMode: 0440
    items:
      - key: {{ $a.credsKey }}
        path: {{ $a.credsKey }}
{{- end }}
{{- end }}

{{/*
The database URL: the Secret's, plus libpq's TLS parameters when
postgres.tls.mode is set (the Secret's URL then has no query string).
*/}}
{{- define "catalog.postgresSection" -}}
{{- $url := "${CATALOG_DATABASE_URL}" }}
{{- with .Values.postgres.tls }}
{{- if .mode }}
{{- $url = printf "%s?sslmode=%s" $url .mode }}
{{- if .caSecret }}
{{- $url = printf "%s&sslrootcert=/etc/catalog/postgres-ca/%s" $url .caKey }}
{{- end }}
{{- end }}
{{- end }}
{{- toYaml (dict "url" $url "max_connections" .Values.postgres.maxConnections) }}
{{- end }}

{{/* The telemetry section: trace export and sampling. */}}
{{- define "catalog.telemetrySection" -}}
{{- $t := dict "sample_ratio" .Values.telemetry.sampleRatio }}
{{- if .Values.telemetry.otlpEndpoint }}
{{- $_ := set $t "otlp_endpoint" .Values.telemetry.otlpEndpoint }}
{{- end }}
{{- toYaml $t }}
{{- end }}

{{- define "catalog.postgresEnv" -}}
- name: CATALOG_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "postgres.existingSecret is required: a Secret holding the database URL" .Values.postgres.existingSecret }}
      key: {{ .Values.postgres.existingSecretKey }}
{{- end }}

{{- define "catalog.metricsSection" -}}
{{- toYaml (dict "listen" (printf "0.0.0.0:%v" .Values.metrics.port)) }}
{{- end }}

{{/*
Environment every catalog container gets: log level and format. The
catalog reads only variables that start with CATALOG_ and contain "__" as
configuration overrides, so none of these names contains "__".
*/}}
{{- define "catalog.commonEnv" -}}
- name: RUST_LOG
  value: {{ .Values.log.level | quote }}
- name: CATALOG_LOG_FORMAT
  value: {{ .Values.log.format | quote }}
{{- end }}

{{/* Per-component pod annotations: config checksum and scrape hints. */}}
{{- define "catalog.podAnnotations" -}}
checksum/config: {{ .config | sha256sum }}
{{- if .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .root.Values.metrics.port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Topology spread: the component's own list when set, else one soft
constraint per key in topologySpread.topologyKeys. matchLabelKeys keeps a
rolling update's new ReplicaSet from being counted with the old one.
*/}}
{{- define "catalog.topologySpread" -}}
{{- $root := .root }}
{{- $labels := .selectorLabels }}
{{- if .values.topologySpreadConstraints }}
{{ toYaml .values.topologySpreadConstraints }}
{{- else if $root.Values.topologySpread.enabled }}
{{- range $root.Values.topologySpread.topologyKeys }}
- maxSkew: {{ $root.Values.topologySpread.maxSkew }}
  topologyKey: {{ . }}
  whenUnsatisfiable: {{ $root.Values.topologySpread.whenUnsatisfiable }}
  labelSelector:
    matchLabels:
      {{- $labels | nindent 6 }}
  matchLabelKeys:
    - pod-template-hash
{{- end }}
{{- end }}
{{- end }}

{{/* Probe timings from values onto a handler. */}}
{{- define "catalog.probeTimings" -}}
{{- range $k, $v := . }}
{{ $k }}: {{ $v }}
{{- end }}
{{- end }}

{{/*
Pod-level scheduling and security shared by every Deployment:
(dict "root" $ "values" .Values.api).
*/}}
{{- define "catalog.podSpecCommon" -}}
{{- $root := .root }}
serviceAccountName: {{ include "catalog.serviceAccountName" $root }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ .values.terminationGracePeriodSeconds }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The container image lines and security context. */}}
{{- define "catalog.containerCommon" -}}
image: {{ include "catalog.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}

{{/* Volumes every catalog pod has: its config file and a writable /tmp. */}}
{{- define "catalog.configVolume" -}}
- name: config
  configMap:
    name: {{ .configMap }}
    items:
      - key: {{ .key }}
        path: catalog.yaml
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- with .root.Values.postgres.tls.caSecret }}
- name: postgres-ca
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}

{{- define "catalog.configVolumeMounts" -}}
- name: config
  mountPath: /etc/catalog/catalog.yaml
  subPath: catalog.yaml
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if .Values.postgres.tls.caSecret }}
- name: postgres-ca
  mountPath: /etc/catalog/postgres-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* The PodDisruptionBudget of one component. */}}
{{- define "catalog.pdb" -}}
{{- if .values.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "catalog.componentLabels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  {{- if ne (toString .values.pdb.minAvailable) "<nil>" }}
  minAvailable: {{ .values.pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ .values.pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- .selectorLabels | nindent 6 }}
{{- end }}
{{- end }}

{{/* The HorizontalPodAutoscaler of one component. */}}
{{- define "catalog.hpa" -}}
{{- $a := .values.autoscaling }}
{{- if $a.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .name }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "catalog.componentLabels" (dict "root" .root "component" .component) | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ .name }}
  minReplicas: {{ $a.minReplicas }}
  maxReplicas: {{ $a.maxReplicas }}
  metrics:
    {{- with $a.targetCPUUtilizationPercentage }}
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
    {{- with $a.targetMemoryUtilizationPercentage }}
    - type: Resource
      resource:
        name: memory
        target:
          type: Utilization
          averageUtilization: {{ . }}
    {{- end }}
  {{- with $a.behavior }}
  behavior:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* NetworkPolicy egress rule for DNS. */}}
{{- define "catalog.egressDns" -}}
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  {{- with .Values.networkPolicy.dns.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* NetworkPolicy egress rule for NATS: the subchart's pods, or the configured peers. */}}
{{- define "catalog.egressNats" -}}
{{- if .Values.nats.enabled }}
- ports:
    - port: {{ (((.Values.nats.config).nats).port) | default 4222 }}
      protocol: TCP
  to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/name: {{ default "nats" .Values.nats.nameOverride }}
          app.kubernetes.io/instance: {{ .Release.Name }}
          app.kubernetes.io/component: nats
{{- else }}
- ports:
    - port: {{ .Values.networkPolicy.nats.port }}
      protocol: TCP
  {{- with .Values.networkPolicy.nats.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{- define "catalog.egressPostgres" -}}
- ports:
    - port: {{ .Values.networkPolicy.postgres.port }}
      protocol: TCP
  {{- with .Values.networkPolicy.postgres.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* NetworkPolicy ingress rule for the metrics port. */}}
{{- define "catalog.ingressMetrics" -}}
- ports:
    - port: metrics
      protocol: TCP
  {{- with .Values.networkPolicy.metrics.from }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
