{{/* Names and labels shared by every manifest. */}}
{{- define "hark.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hark.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hark.labels" -}}
{{ include "hark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The port hark listens on, from config.listen (host:port). */}}
{{- define "hark.port" -}}
{{- $listen := .Values.config.listen | default "0.0.0.0:8080" -}}
{{- last (splitList ":" $listen) -}}
{{- end -}}

{{/* hark.toml: the user's config, with the TLS files pointed at the mounted Secret. */}}
{{- define "hark.configToml" -}}
{{- $config := deepCopy .Values.config -}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $config "tls_cert_file" "/etc/hark/tls/tls.crt" -}}
{{- $_ := set $config "tls_key_file" "/etc/hark/tls/tls.key" -}}
{{- end -}}
{{- include "hark.toTomlFlat" $config -}}
{{- end -}}

{{/* A flat map as TOML. Helm reads every YAML number as a float, and toToml would print
     `max_streams = 32.0`, which an integer setting refuses: whole numbers print as integers. */}}
{{- define "hark.toTomlFlat" -}}
{{- range $key, $value := . }}
{{- $kind := kindOf $value }}
{{ $key }} = {{ if eq $kind "float64" -}}
{{- if eq $value (float64 (int64 $value)) }}{{ int64 $value }}{{ else }}{{ $value }}{{ end -}}
{{- else if eq $kind "bool" }}{{ $value }}{{ else }}{{ toJson $value }}{{ end }}
{{- end }}
{{- end -}}

{{- define "hark.apiKeysSecret" -}}
{{- if .Values.apiKeys.existingSecret -}}
{{- .Values.apiKeys.existingSecret -}}
{{- else -}}
{{- printf "%s-api-keys" (include "hark.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "hark.scheme" -}}
{{- if .Values.tls.enabled }}HTTPS{{ else }}HTTP{{ end -}}
{{- end -}}
