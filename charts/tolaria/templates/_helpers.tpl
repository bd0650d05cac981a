{{/* Name of the chart, overridable. */}}
{{- define "tolaria.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name, prefixed with the chart's unless it contains it. */}}
{{- define "tolaria.fullname" -}}
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

{{- define "tolaria.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tolaria.labels" -}}
helm.sh/chart: {{ include "tolaria.chart" . }}
{{ include "tolaria.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tolaria.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tolaria.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tolaria.operatorSelectorLabels" -}}
{{ include "tolaria.selectorLabels" . }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "tolaria.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tolaria.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "tolaria.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Namespaces given Roles in a namespaced install, one per line. */}}
{{- define "tolaria.roleNamespaces" -}}
{{- range (default (list .Release.Namespace) .Values.watchNamespaces) }}
{{ . }}
{{- end }}
{{- end }}

{{/*
The permissions the operator needs on TrainingRuns and their children, shared by the ClusterRole
and the namespaced Roles. kopf keeps its progress and finalizers in annotations and metadata
(patch on trainingruns) and writes status through the status subresource; adopting children with
blockOwnerDeletion needs update on trainingruns/finalizers (OwnerReferencesPermissionEnforcement).
*/}}
{{- define "tolaria.operatorRules" -}}
# kopf keeps its progress in annotations and its finalizer in metadata (patch); status goes
# through the status subresource (patch). Nothing is ever written with PUT (no update verb).
- apiGroups: [tolaria.dev]
  resources: [trainingruns]
  verbs: [get, list, watch, patch]
- apiGroups: [tolaria.dev]
  resources: [trainingruns/status]
  verbs: [patch]
- apiGroups: [tolaria.dev]
  resources: [trainingruns/finalizers]
  verbs: [update]
# Children, written by server-side apply (patch; create where missing), watched through kopf's
# indexes (list, watch), pruned and replaced (delete): daemon, actor, evaluator and managed
# Redis Deployments, their Services, the learner Job, the run's ConfigMap, the Redis's claim and
# PodDisruptionBudget, and the run's NetworkPolicies.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps, persistentvolumeclaims]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch, delete]
# Secrets: the operator checks that referenced ones exist (metadata only), creates the password
# of a managed Redis once, and reads that password (or passwordSecret's) to sample queue depth.
# Never listed or watched, so no other Secret's value reaches it.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
# Why a learner pod failed (listed when the learner Job counts a new failure).
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
# Events on TrainingRuns (kopf posts core/v1 Events; scaling decisions too).
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- if .Values.peering.enabled }}
- apiGroups: [kopf.dev, zalando.org]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end }}
{{- end }}

{{- define "tolaria.storageClassRules" -}}
- apiGroups: [storage.k8s.io]
  resources: [storageclasses]
  verbs: [list]
{{- end }}

{{/* "true" when the operator watches every namespace (and so uses cluster-wide kopf peering). */}}
{{- define "tolaria.clusterwide" -}}
{{- if not (or .Values.namespaced .Values.watchNamespaces) }}true{{ end }}
{{- end }}
