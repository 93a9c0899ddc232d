{{/*
Labels of every object: the same two as the kustomize folders (deploy/kube-lb-cluster, deploy/lb-consumer-cluster),
so that `helm template` with default values renders their objects exactly. Usage: include "kube-lb.labels" "kube-lb-allocator"
*/}}
{{- define "kube-lb.labels" -}}
app.kubernetes.io/name: {{ . }}
app.kubernetes.io/part-of: kube-lb
{{- end }}

{{- define "kube-lb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* --log-level when one is set for the program or globally. Usage: include "kube-lb.logLevel" (list $ .Values.allocator) */}}
{{- define "kube-lb.logLevel" -}}
{{- $level := (index . 1).logLevel | default (index . 0).Values.logLevel -}}
{{- if $level }}
- --log-level={{ $level }}
{{- end }}
{{- end }}

{{/* Whether the allocator keeps its own webhook certificate and configuration (certificates: allocator). */}}
{{- define "kube-lb.webhookSelfManaged" -}}
{{- $mode := .Values.allocator.webhook.certificates -}}
{{- if not (has $mode (list "allocator" "cert-manager" "external")) -}}
{{- fail (printf "allocator.webhook.certificates must be allocator, cert-manager or external, not %q" $mode) -}}
{{- end -}}
{{- if eq $mode "allocator" }}true{{ end -}}
{{- end }}

{{- define "kube-lb.imagePullSecrets" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
