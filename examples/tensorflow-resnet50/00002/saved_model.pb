€
"serveo
A
image_bytesPlaceholder*
dtype0*
shape:ÿÿÿÿÿÿÿÿÿ
&
echoIdentityimage_bytes*
T0"*ƒ
serving_defaultp
/
image_bytes 
image_bytes:0ÿÿÿÿÿÿÿÿÿ!
echo
echo:0ÿÿÿÿÿÿÿÿÿtensorflow/serving/predict