{{/*
One catalog Deployment. Parameters:
  root       the chart context ($)
  component  ingest | projector | api | ui-bridge (the component label)
  name       the object name
  extraSelector  extra selector labels (projector groups), a YAML string or ""
  values     the component's values (.Values.api, ...)
  command    the catalog subcommand
  configKey  the ConfigMap key holding this component's config file
  config     that file's rendered text (for the checksum)
  ports      container ports, a YAML list string
  probe      the probe handler, a YAML string
  readyProbe the readiness probe's handler when it differs (servers the
             component needs must answer), a YAML string or ""
  env        component-specific env, a YAML list string
  volumes / volumeMounts   component-specific, YAML list strings
  replicas   whether to set spec.replicas (false under an HPA)
*/}}
{{- define "catalog.deployment" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $selector := include "catalog.componentSelectorLabels" (dict "root" $root "component" .component) }}
{{- if .extraSelector }}
{{- $selector = printf "%s\n%s" $selector .extraSelector }}
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "catalog.componentLabels" (dict "root" $root "component" .component) | nindent 4 }}
    {{- with .extraSelector }}
    {{- . | nindent 4 }}
    {{- end }}
spec:
  {{- if .replicas }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- $selector | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "catalog.componentLabels" (dict "root" $root "component" .component) | nindent 8 }}
        {{- with .extraSelector }}
        {{- . | nindent 8 }}
        {{- end }}
        catalog-metrics: "true"
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "catalog.podAnnotations" (dict "root" $root "values" $v "config" .config) | nindent 8 }}
    spec:
      {{- include "catalog.podSpecCommon" (dict "root" $root "values" $v) | trim | nindent 6 }}
      {{- $spread := include "catalog.topologySpread" (dict "root" $root "values" $v "selectorLabels" $selector) }}
      {{- if trim $spread }}
      topologySpreadConstraints:
        {{- $spread | trim | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          {{- include "catalog.containerCommon" $root | nindent 10 }}
          args:
            - {{ .command }}
            - --config
            - /etc/catalog/catalog.yaml
          ports:
            {{- with .ports }}
            {{- . | nindent 12 }}
            {{- end }}
            - name: metrics
              containerPort: {{ $root.Values.metrics.port }}
              protocol: TCP
          env:
            {{- include "catalog.commonEnv" $root | nindent 12 }}
            {{- with trim .env }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            {{- .probe | nindent 12 }}
            {{- include "catalog.probeTimings" $v.probes.startup | trim | nindent 12 }}
          readinessProbe:
            {{- default .probe .readyProbe | nindent 12 }}
            {{- include "catalog.probeTimings" $v.probes.readiness | trim | nindent 12 }}
          livenessProbe:
            {{- .probe | nindent 12 }}
            {{- include "catalog.probeTimings" $v.probes.liveness | trim | nindent 12 }}
          {{- with $v.preStopSleepSeconds }}
          # Keeps serving while the endpoint's removal reaches every proxy
          # and kube-proxy, before SIGTERM starts the graceful shutdown.
          lifecycle:
            preStop:
              sleep:
                seconds: {{ . }}
          {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          volumeMounts:
            {{- include "catalog.configVolumeMounts" $root | nindent 12 }}
            {{- with .volumeMounts }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        {{- include "catalog.configVolume" (dict "root" $root "configMap" (printf "%s-config" (include "catalog.fullname" $root)) "key" .configKey) | nindent 8 }}
        {{- with .volumes }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end }}
