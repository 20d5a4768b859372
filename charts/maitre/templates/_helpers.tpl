{{/*
Names, labels and the per-component view of the values.
Every workload template loops over "maitre.components" and reads its settings through
"maitre.component", which merges `defaults` under the component's own section.
*/}}

{{- define "maitre.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource-name prefix: <release>-maitre, or the release name when it already says maitre. */}}
{{- define "maitre.fullname" -}}
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

{{- define "maitre.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "maitre.labels" -}}
helm.sh/chart: {{ include "maitre.chart" . }}
app.kubernetes.io/name: {{ include "maitre.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: maitre
{{- end }}

{{/* Selector labels of one component; args: (list $ "<component>"). */}}
{{- define "maitre.selectorLabels" -}}
app.kubernetes.io/name: {{ include "maitre.name" (index . 0) }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Full labels of one component; args: (list $ "<component>"). */}}
{{- define "maitre.componentLabels" -}}
{{ include "maitre.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Name of one component's objects; args: (list $ "<component>"). */}}
{{- define "maitre.componentFullname" -}}
{{- printf "%s-%s" (include "maitre.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The enabled components, space-separated, services first. */}}
{{- define "maitre.components" -}}
{{- $names := list }}
{{- range $name := list "profile" "assignment" "tagging" "notification" }}
{{- if (index $.Values.services $name).enabled }}
{{- $names = append $names $name }}
{{- end }}
{{- end }}
{{- if .Values.gateway.enabled }}
{{- $names = append $names "gateway" }}
{{- end }}
{{- join " " $names }}
{{- end }}

{{/*
One component's settings as YAML: its own section merged over `defaults` (own values win).
Args: (list $ "<component>"). Use as: include "maitre.component" (list $ $name) | fromYaml
*/}}
{{- define "maitre.component" -}}
{{- $root := index . 0 }}
{{- $name := index . 1 }}
{{- $own := dict }}
{{- if eq $name "gateway" }}
{{- $own = $root.Values.gateway }}
{{- else }}
{{- $own = index $root.Values.services $name }}
{{- end }}
{{- $merged := deepCopy $root.Values.defaults }}
{{- include "maitre.mergeInto" (list $merged (deepCopy $own)) }}
{{- toYaml $merged }}
{{- end }}

{{/*
Deep-merge a map into another in place; args: (list $dst $src), $src wins, outputs nothing.
Sprig's merge/mergeOverwrite treat false, 0 and "" as unset, so a component could not turn
off a default such as `autoscaling.enabled: true`; this merge takes every value as given.
*/}}
{{- define "maitre.mergeInto" -}}
{{- $dst := index . 0 }}
{{- range $key, $value := index . 1 }}
{{- if and (kindIs "map" $value) (kindIs "map" (index $dst $key)) }}
{{- include "maitre.mergeInto" (list (index $dst $key) $value) }}
{{- else }}
{{- $_ := set $dst $key $value }}
{{- end }}
{{- end }}
{{- end }}

{{- define "maitre.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Secret names: the configured existing Secret, or <fullname>-<kind>. */}}
{{- define "maitre.databaseSecret" -}}
{{- default (printf "%s-database" (include "maitre.fullname" .)) .Values.database.existingSecret }}
{{- end }}
{{- define "maitre.redisSecret" -}}
{{- default (printf "%s-redis" (include "maitre.fullname" .)) .Values.redis.existingSecret }}
{{- end }}
{{- define "maitre.jwtSecret" -}}
{{- default (printf "%s-jwt" (include "maitre.fullname" .)) .Values.jwt.existingSecret }}
{{- end }}

{{/* Where the JWT key files are mounted. */}}
{{- define "maitre.jwtDir" -}}/etc/maitre/jwt{{- end }}

{{/* gRPC URL of a service, as the other components dial it; args: (list $ "<service>"). */}}
{{- define "maitre.serviceUrl" -}}
{{- printf "http://%s:50051" (include "maitre.componentFullname" .) }}
{{- end }}

{{/*
Pod and container security context: non-root uid 10001 (the image's user), no privilege
escalation, no capabilities, read-only root filesystem (the binary writes nothing to disk;
/tmp is an emptyDir).
*/}}
{{- define "maitre.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- define "maitre.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
{{- end }}
